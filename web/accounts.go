package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// Accounts lists and ends sessions and offboards users.
type Accounts interface {
	Sessions(ctx context.Context, actor tenant.Actor, userID string) ([]identity.Session, error)
	EndSession(ctx context.Context, actor tenant.Actor, sessionID string) error
	Offboard(ctx context.Context, actor tenant.Actor, userID, transferTo string) (identity.OffboardResult, error)
}

func init() {
	flashKinds["session_revoked"] = false
	flashKinds["offboarded"] = false
	flashKinds["offboard_failed"] = true
}

// AccountPage shows one user: profile, live sessions and, for admins,
// offboarding.
type AccountPage struct {
	Shell
	Name        string
	Login       string
	RoleLabel   string
	StatusLabel string
	Active      bool
	IsSelf      bool
	Sessions    []SessionRow
	// Offboarding (admins, another active user).
	CanOffboard    bool
	OffboardAction string
	Heirs          []Option
	OffboardQ      string
	OffboardErr    string
}

// SessionRow is one live session.
type SessionRow struct {
	Started   string
	LastSeen  string
	IP        string
	UserAgent string
	Current   bool
	EndAction string
}

func (w *Web) myAccount(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	http.Redirect(rw, r, "/users/"+url.PathEscape(rc.p.User.ID), http.StatusSeeOther)
}

func (w *Web) accountPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.renderAccount(rw, r, rc, "", http.StatusOK)
}

func (w *Web) renderAccount(rw http.ResponseWriter, r *http.Request, rc *reqCtx, offboardErr string, status int) {
	l := rc.lang
	actor := rc.actor()
	u, err := w.d.Identity.User(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	sessions, err := w.d.Accounts.Sessions(r.Context(), actor, u.ID)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	active := "users"
	if u.ID == actor.UserID && !access.CanManageUsers(actor) {
		active = ""
	}
	p := &AccountPage{
		Shell: w.shell(rw, r, rc, l, u.Name, active), Name: u.Name, Login: u.Login(),
		RoleLabel: translateOr(l, "role."+u.Role, u.Role), StatusLabel: translateOr(l, "status."+string(u.Status), string(u.Status)),
		Active: u.Status == identity.StatusActive, IsSelf: u.ID == actor.UserID, OffboardErr: offboardErr,
	}
	loc := w.location(l)
	for _, s := range sessions {
		p.Sessions = append(p.Sessions, SessionRow{
			Started: formatDateTime(l, loc, s.CreatedAt), LastSeen: formatDateTime(l, loc, s.LastSeenAt), IP: s.IP,
			UserAgent: s.UserAgent, Current: s.ID == actor.SessionID, EndAction: "/sessions/" + url.PathEscape(s.ID) + "/end?back=" + url.QueryEscape(u.ID),
		})
	}
	if access.CanManageUsers(actor) && !p.IsSelf && p.Active {
		users, _, err := w.d.Identity.Users(r.Context(), actor, "", 200)
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		for _, h := range users {
			if h.ID != u.ID && h.Status == identity.StatusActive {
				p.Heirs = append(p.Heirs, Option{Value: h.ID, Label: h.Name + " (" + h.Login() + ")"})
			}
		}
		p.CanOffboard = len(p.Heirs) > 0
		p.OffboardAction = "/users/" + url.PathEscape(u.ID) + "/offboard"
		p.OffboardQ = translate(l, "account.offboard_q", u.Name)
	}
	w.render(rw, r, status, "account", p)
}

func (w *Web) endSession(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	back := r.URL.Query().Get("back")
	if !tenant.ValidID(back) {
		back = rc.p.User.ID
	}
	if err := w.d.Accounts.EndSession(r.Context(), rc.actor(), r.PathValue("id")); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	if r.PathValue("id") == rc.actor().SessionID {
		w.clearCookie(rw, sessionCookie)
		http.Redirect(rw, r, "/login", http.StatusSeeOther)
		return
	}
	w.setFlash(rw, "session_revoked")
	http.Redirect(rw, r, "/users/"+url.PathEscape(back), http.StatusSeeOther)
}

func (w *Web) offboardUser(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !access.CanManageUsers(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	id := r.PathValue("id")
	_, err := w.d.Accounts.Offboard(r.Context(), rc.actor(), id, r.PostForm.Get("transfer_to"))
	switch {
	case err == nil:
		w.setFlash(rw, "offboarded")
		http.Redirect(rw, r, "/users", http.StatusSeeOther)
	case apperr.Is(err, apperr.KindInvalid) || apperr.Is(err, apperr.KindConflict):
		w.renderAccount(rw, r, rc, translate(rc.lang, "account.offboard_failed"), http.StatusUnprocessableEntity)
	default:
		w.fail(rw, r, rc, err)
	}
}

package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// Accounts manages a user's sessions and API tokens and offboards users.
type Accounts interface {
	CreateToken(ctx context.Context, actor tenant.Actor, in identity.TokenInput) (identity.NewToken, error)
	Tokens(ctx context.Context, actor tenant.Actor, userID string) ([]identity.APIToken, error)
	RevokeToken(ctx context.Context, actor tenant.Actor, id string) error
	LiveTokensByUser(ctx context.Context, actor tenant.Actor) (map[string][]identity.APIToken, error)
	Sessions(ctx context.Context, actor tenant.Actor, userID string) ([]identity.Session, error)
	EndSession(ctx context.Context, actor tenant.Actor, sessionID string) error
	Offboard(ctx context.Context, actor tenant.Actor, userID, transferTo string) (identity.OffboardResult, error)
}

func init() {
	flashKinds["session_revoked"] = false
	flashKinds["offboarded"] = false
	flashKinds["offboard_failed"] = true
	flashKinds["token_revoked"] = false
}

// AccountPage shows one user: profile, live sessions and, for admins,
// offboarding.
type AccountPage struct {
	Shell
	Name  string
	Login string
	// AccountRole and AccountStatus describe the user shown; the shell's
	// own RoleLabel is the signed-in viewer's.
	AccountRole   string
	AccountStatus string
	Active        bool
	IsSelf        bool
	Sessions      []SessionRow
	Tokens        []TokenRow
	// CreateTokenAction is set where the viewer may create a token here.
	CreateTokenAction string
	TokenScopes       []Option
	TokenDays         []Option
	TokenErr          string
	// Offboarding (admins, another active user).
	CanOffboard    bool
	OffboardAction string
	Heirs          []Option
	OffboardQ      string
	OffboardErr    string
	// Multi-factor authentication.
	MFAEnabled     bool
	MFARequired    bool
	MFACodesLeft   int
	CanEnrolMFA    bool // the viewer's own page, nothing enabled yet
	CanDisableMFA  bool // the viewer's own page, enabled
	ResetMFAAction string
	MFAStatusLabel string
}

// TokenRow is one API token of the user.
type TokenRow struct {
	Name         string
	ScopeLabel   string
	Created      string
	Expires      string
	LastUsed     string
	Active       bool
	RevokeAction string
}

// TokenCreatedPage shows a new API token's secret exactly once.
type TokenCreatedPage struct {
	Shell
	Name    string
	Owner   string
	Scope   string
	Expires string
	Secret  string
	Back    string
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
	w.renderAccount(rw, r, rc, "", "", http.StatusOK)
}

func (w *Web) renderAccount(rw http.ResponseWriter, r *http.Request, rc *reqCtx, offboardErr, tokenErr string, status int) {
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
		AccountRole: translateOr(l, "role."+u.Role, u.Role), AccountStatus: translateOr(l, "status."+string(u.Status), string(u.Status)),
		Active: u.Status == identity.StatusActive, IsSelf: u.ID == actor.UserID, OffboardErr: offboardErr,
	}
	loc := w.location(l)
	for _, s := range sessions {
		p.Sessions = append(p.Sessions, SessionRow{
			Started: formatDateTime(l, loc, s.CreatedAt), LastSeen: formatDateTime(l, loc, s.LastSeenAt), IP: s.IP,
			UserAgent: s.UserAgent, Current: s.ID == actor.SessionID, EndAction: "/sessions/" + url.PathEscape(s.ID) + "/end?back=" + url.QueryEscape(u.ID),
		})
	}
	mfa, err := w.d.MFA.MFA(r.Context(), actor, u.ID)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	p.MFAEnabled, p.MFARequired, p.MFACodesLeft = mfa.Enabled, mfa.RequiredByTenant, mfa.RecoveryCodesLeft
	p.MFAStatusLabel = translate(l, "mfa.off")
	if mfa.Enabled {
		p.MFAStatusLabel = translate(l, "mfa.on")
	}
	if p.IsSelf && rc.p.Token.ID == "" {
		p.CanEnrolMFA, p.CanDisableMFA = !mfa.Enabled, mfa.Enabled
	}
	if !p.IsSelf && mfa.Enabled && access.CanManageUsers(actor) {
		p.ResetMFAAction = "/users/" + url.PathEscape(u.ID) + "/mfa/reset"
	}
	tokens, err := w.d.Accounts.Tokens(r.Context(), actor, u.ID)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	now := time.Now()
	for _, t := range tokens {
		row := TokenRow{Name: t.Name, ScopeLabel: translate(l, "token.scope_"+t.Scope), Created: formatDateTime(l, loc, t.CreatedAt),
			Expires: formatDateTime(l, loc, t.ExpiresAt), LastUsed: translate(l, "users.never"), Active: t.Live(now)}
		if t.LastUsedAt != nil {
			row.LastUsed = formatDateTime(l, loc, *t.LastUsedAt)
		}
		if row.Active {
			row.RevokeAction = "/tokens/" + url.PathEscape(t.ID) + "/revoke?back=" + url.QueryEscape(u.ID)
		}
		p.Tokens = append(p.Tokens, row)
	}
	if p.Active {
		p.CreateTokenAction = "/users/" + url.PathEscape(u.ID) + "/tokens"
		p.TokenErr = tokenErr
		p.TokenScopes = []Option{{Value: identity.ScopeRead, Label: translate(l, "token.scope_read"), Selected: true},
			{Value: identity.ScopeWrite, Label: translate(l, "token.scope_write")}}
		for _, d := range []string{"30", "90", "180", "365"} {
			p.TokenDays = append(p.TokenDays, Option{Value: d, Label: translate(l, "token.days", d), Selected: d == "90"})
		}
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
		w.renderAccount(rw, r, rc, translate(rc.lang, "account.offboard_failed"), "", http.StatusUnprocessableEntity)
	default:
		w.fail(rw, r, rc, err)
	}
}

func (w *Web) createToken(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	l := rc.lang
	days, _ := strconv.Atoi(r.PostForm.Get("days"))
	in := identity.TokenInput{Name: r.PostForm.Get("name"), Scope: r.PostForm.Get("scope"), Days: days, ForUser: r.PathValue("id")}
	nt, err := w.d.Accounts.CreateToken(r.Context(), rc.actor(), in)
	if err != nil {
		if apperr.Is(err, apperr.KindInvalid) || apperr.Is(err, apperr.KindConflict) {
			w.renderAccount(rw, r, rc, "", translate(l, "token.invalid"), http.StatusUnprocessableEntity)
			return
		}
		w.fail(rw, r, rc, err)
		return
	}
	owner := rc.p.User.Name
	if nt.Token.UserID != rc.p.User.ID {
		if u, err := w.d.Identity.User(r.Context(), rc.actor(), nt.Token.UserID); err == nil {
			owner = u.Name
		}
	}
	p := &TokenCreatedPage{Shell: w.shell(rw, r, rc, l, translate(l, "token.created_title"), ""), Name: nt.Token.Name, Owner: owner,
		Scope: translate(l, "token.scope_"+nt.Token.Scope), Expires: formatDateTime(l, w.location(l), nt.Token.ExpiresAt),
		Secret: nt.Secret, Back: "/users/" + url.PathEscape(nt.Token.UserID)}
	// Rendered in the POST's own response, like one-time passwords: the
	// secret is never kept anywhere for a later GET.
	rw.Header().Set("Pragma", "no-cache")
	w.render(rw, r, http.StatusOK, "token", p)
}

func (w *Web) revokeToken(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	back := r.URL.Query().Get("back")
	if !tenant.ValidID(back) {
		back = rc.p.User.ID
	}
	if err := w.d.Accounts.RevokeToken(r.Context(), rc.actor(), r.PathValue("id")); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.setFlash(rw, "token_revoked")
	http.Redirect(rw, r, "/users/"+url.PathEscape(back), http.StatusSeeOther)
}

package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/exportgov"
)

// The admins' export rules page: which roles may export lists and all
// data, each user's daily row quota and the size from which admins are
// e-mailed. /settings/export belongs to the one-click full export; this
// page is /settings/export-rules. The exportgov service decides and
// audits; this page only presents and forwards.

const exportRulesPath = "/settings/export-rules"

// ExportRulesPage is the view model of the page.
type ExportRulesPage struct {
	Shell
	Action    string
	ListRoles []FormField
	FullRoles []FormField
	Quota     FormField
	Threshold FormField
	Usage     string
	Grace     string
	Error     string
}

// ExportRulesNavActive reports whether the page is the export rules page,
// for the layout's navigation link.
func (s *Shell) ExportRulesNavActive() bool {
	return s.Path == exportRulesPath || strings.HasPrefix(s.Path, exportRulesPath+"?")
}

func (w *Web) exportRulesAllowed(rw http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if w.d.ExportGov == nil {
		w.notFoundRC(rw, r, rc)
		return false
	}
	// The service checks again; this keeps the page from rendering at all.
	if !access.CanManageSettings(rc.actor()) {
		w.forbidden(rw, r, rc)
		return false
	}
	return true
}

func (w *Web) exportRulesPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.exportRulesAllowed(rw, r, rc) {
		return
	}
	s, err := w.d.ExportGov.Get(r.Context(), rc.actor())
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.renderExportRules(rw, r, rc, http.StatusOK, s, strconv.FormatInt(s.DailyRowQuota, 10), strconv.FormatInt(s.NotifyThreshold, 10), nil)
}

func (w *Web) renderExportRules(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, s exportgov.Settings, quota, threshold string, bad map[string]string) {
	l := rc.lang
	p := &ExportRulesPage{Shell: w.shell(rw, r, rc, l, translate(l, "exportrules.title"), "export-rules"), Action: exportRulesPath,
		Grace: translate(l, "exportrules.grace", int(exportgov.DefaultGracePeriod/(24*time.Hour)))}
	for _, role := range access.Roles {
		label := translateOr(l, "role."+role, role)
		p.ListRoles = append(p.ListRoles, FormField{Name: "list_roles", ID: "list-" + role, Label: label, Kind: "checkbox", Value: role,
			Checked: slices.Contains(s.ListRoles, role)})
		f := FormField{Name: "full_roles", ID: "full-" + role, Label: label, Kind: "checkbox", Value: role, Checked: slices.Contains(s.FullRoles, role)}
		if role == access.RoleAdmin {
			f.Checked, f.ReadOnly, f.Hint = true, true, translate(l, "exportrules.admin_always")
		}
		p.FullRoles = append(p.FullRoles, f)
	}
	p.Quota = FormField{Name: "daily_row_quota", ID: "daily_row_quota", Label: translate(l, "exportrules.quota"), Kind: "input", InputType: "number",
		Step: "1", Value: quota, Required: true, Hint: translate(l, "exportrules.quota_hint"), Error: bad["daily_row_quota"]}
	p.Threshold = FormField{Name: "notify_threshold", ID: "notify_threshold", Label: translate(l, "exportrules.threshold"), Kind: "input", InputType: "number",
		Step: "1", Value: threshold, Required: true, Error: bad["notify_threshold"]}
	if len(bad) > 0 {
		p.Error = translate(l, "exportrules.err")
		for _, k := range []string{"list_roles", "full_roles"} {
			if bad[k] != "" {
				p.Error += " " + bad[k]
			}
		}
	}
	if used, q, err := w.d.ExportGov.Usage(r.Context(), rc.actor()); err == nil {
		p.Usage = translate(l, "exportrules.usage", used, q)
	}
	w.render(rw, r, status, "exportrules", p)
}

func (w *Web) saveExportRules(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.exportRulesAllowed(rw, r, rc) {
		return
	}
	form := r.PostForm
	in := exportgov.Settings{ListRoles: append([]string{}, form["list_roles"]...), FullRoles: append([]string{}, form["full_roles"]...)}
	bad := map[string]string{}
	quota, threshold := strings.TrimSpace(form.Get("daily_row_quota")), strings.TrimSpace(form.Get("notify_threshold"))
	var err error
	if in.DailyRowQuota, err = strconv.ParseInt(quota, 10, 64); err != nil {
		bad["daily_row_quota"] = translate(rc.lang, "exportrules.err.number")
	}
	if in.NotifyThreshold, err = strconv.ParseInt(threshold, 10, 64); err != nil {
		bad["notify_threshold"] = translate(rc.lang, "exportrules.err.number")
	}
	if len(bad) == 0 {
		_, err = w.d.ExportGov.Put(r.Context(), rc.actor(), in)
		if err == nil {
			w.setFlash(rw, "export_rules_saved")
			http.Redirect(rw, r, exportRulesPath, http.StatusSeeOther)
			return
		}
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.KindInvalid {
			w.fail(rw, r, rc, err)
			return
		}
		fields, _ := e.Details["fields"].(map[string]string)
		for k, v := range fields {
			bad[k] = v
		}
		if len(bad) == 0 {
			bad["daily_row_quota"] = e.Message
		}
	}
	w.renderExportRules(rw, r, rc, http.StatusUnprocessableEntity, in, quota, threshold, bad)
}

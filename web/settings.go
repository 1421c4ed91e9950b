package web

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/tenant"
)

// SettingsService reads and replaces a tenant's security settings (Get and
// Put for admins only) and gives any signed-in page the rules in force.
type SettingsService interface {
	Get(ctx context.Context, actor tenant.Actor) (identity.SecuritySettings, error)
	Put(ctx context.Context, actor tenant.Actor, in identity.SecuritySettings) (identity.SecuritySettings, error)
	Effective(ctx context.Context, tid tenant.ID) (identity.SecuritySettings, error)
}

func init() {
	flashKinds["settings_saved"] = false
}

// SettingsPage is the security settings form.
type SettingsPage struct {
	Shell
	Preset     FormField
	Groups     []SettingsGroup
	Error      string
	HasErrors  bool
	ScriptPath string
	// PresetValues holds each preset's values as JSON for settings.js,
	// which fills the form when a preset is chosen.
	PresetMLPS3 string
	PresetNIST  string
}

// SettingsGroup is one section of the settings form.
type SettingsGroup struct {
	Title  string
	Fields []FormField
}

// settingField describes one setting: its JSON name, its kind and how to
// read and write it.
type settingField struct {
	name  string
	kind  string // number, checkbox, ranges
	group string
	get   func(s *identity.SecuritySettings) any
	set   func(s *identity.SecuritySettings, v any)
}

func intField(name, group string, p func(s *identity.SecuritySettings) *int) settingField {
	return settingField{name: name, kind: "number", group: group,
		get: func(s *identity.SecuritySettings) any { return *p(s) },
		set: func(s *identity.SecuritySettings, v any) { *p(s) = v.(int) }}
}

func boolField(name, group string, p func(s *identity.SecuritySettings) *bool) settingField {
	return settingField{name: name, kind: "checkbox", group: group,
		get: func(s *identity.SecuritySettings) any { return *p(s) },
		set: func(s *identity.SecuritySettings, v any) { *p(s) = v.(bool) }}
}

// settingFields lists every setting in the order the page shows them.
var settingFields = []settingField{
	intField("password_min_length", "password", func(s *identity.SecuritySettings) *int { return &s.PasswordMinLength }),
	intField("password_max_length", "password", func(s *identity.SecuritySettings) *int { return &s.PasswordMaxLength }),
	intField("password_classes", "password", func(s *identity.SecuritySettings) *int { return &s.PasswordClasses }),
	intField("password_expiry_days", "password", func(s *identity.SecuritySettings) *int { return &s.PasswordExpiryDays }),
	intField("password_history", "password", func(s *identity.SecuritySettings) *int { return &s.PasswordHistory }),
	boolField("password_check_common", "password", func(s *identity.SecuritySettings) *bool { return &s.PasswordCheckCommon }),
	intField("lockout_threshold", "lockout", func(s *identity.SecuritySettings) *int { return &s.LockoutThreshold }),
	intField("lockout_minutes", "lockout", func(s *identity.SecuritySettings) *int { return &s.LockoutMinutes }),
	intField("captcha_after", "lockout", func(s *identity.SecuritySettings) *int { return &s.CaptchaAfter }),
	intField("ip_captcha_after", "lockout", func(s *identity.SecuritySettings) *int { return &s.IPCaptchaAfter }),
	intField("session_idle_minutes", "sessions", func(s *identity.SecuritySettings) *int { return &s.SessionIdleMinutes }),
	intField("session_max_hours", "sessions", func(s *identity.SecuritySettings) *int { return &s.SessionMaxHours }),
	intField("max_sessions", "sessions", func(s *identity.SecuritySettings) *int { return &s.MaxSessions }),
	boolField("mfa_required", "access", func(s *identity.SecuritySettings) *bool { return &s.MFARequired }),
	{name: "login_ip_ranges", kind: "ranges", group: "access",
		get: func(s *identity.SecuritySettings) any { return strings.Join(s.LoginIPRanges, "\n") },
		set: func(s *identity.SecuritySettings, v any) { s.LoginIPRanges = v.([]string) }},
}

var settingGroups = []string{"password", "lockout", "sessions", "access"}

// settingsForm is what the form shows: the values as typed and the
// errors by setting name.
type settingsForm struct {
	preset string
	values map[string]string
	checks map[string]bool
	errs   map[string]string
}

func formOf(s identity.SecuritySettings) settingsForm {
	f := settingsForm{preset: s.Preset, values: map[string]string{}, checks: map[string]bool{}, errs: map[string]string{}}
	for _, sf := range settingFields {
		switch v := sf.get(&s).(type) {
		case int:
			f.values[sf.name] = strconv.Itoa(v)
		case bool:
			f.checks[sf.name] = v
		case string:
			f.values[sf.name] = v
		}
	}
	return f
}

func (w *Web) settingsAllowed(rw http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if w.d.Settings == nil {
		w.notFoundRC(rw, r, rc)
		return false
	}
	if !access.CanManageSettings(rc.actor()) {
		w.forbidden(rw, r, rc)
		return false
	}
	return true
}

func (w *Web) securitySettingsPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.settingsAllowed(rw, r, rc) {
		return
	}
	s, err := w.d.Settings.Get(r.Context(), rc.actor())
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.renderSettings(rw, r, rc, formOf(s), http.StatusOK)
}

func (w *Web) saveSecuritySettings(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.settingsAllowed(rw, r, rc) {
		return
	}
	pf := r.PostForm
	f := settingsForm{preset: pf.Get("preset"), values: map[string]string{}, checks: map[string]bool{}, errs: map[string]string{}}
	in := identity.SecuritySettings{Preset: f.preset}
	for _, sf := range settingFields {
		switch sf.kind {
		case "number":
			raw := strings.TrimSpace(pf.Get(sf.name))
			f.values[sf.name] = truncateRunes(raw, 20)
			n, err := strconv.Atoi(raw)
			if err != nil {
				f.errs[sf.name] = "must be a whole number"
				continue
			}
			sf.set(&in, n)
		case "checkbox":
			on := pf.Get(sf.name) == "true"
			f.checks[sf.name] = on
			sf.set(&in, on)
		case "ranges":
			raw := pf.Get(sf.name)
			f.values[sf.name] = truncateRunes(raw, 4000)
			ranges := strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
			if ranges == nil {
				ranges = []string{}
			}
			sf.set(&in, ranges)
		}
	}
	if _, isPreset := identity.PresetSettings(f.preset); isPreset {
		// The preset decides every value; what the form held is moot.
		f.errs = map[string]string{}
	} else if len(f.errs) > 0 {
		// Report the values that parsed but break a bound too, all at once.
		if err := in.Validate(); err != nil {
			if fe, ok := fieldErrors(err); ok {
				for k, msg := range fe {
					if _, bad := f.errs[k]; !bad {
						f.errs[k] = msg
					}
				}
			}
		}
		w.renderSettings(rw, r, rc, f, http.StatusUnprocessableEntity)
		return
	}
	_, err := w.d.Settings.Put(r.Context(), rc.actor(), in)
	if err == nil {
		w.setFlash(rw, "settings_saved")
		http.Redirect(rw, r, "/settings/security", http.StatusSeeOther)
		return
	}
	if fe, ok := fieldErrors(err); ok {
		for k, msg := range fe {
			f.errs[k] = msg
		}
		w.renderSettings(rw, r, rc, f, http.StatusUnprocessableEntity)
		return
	}
	w.fail(rw, r, rc, err)
}

func (w *Web) renderSettings(rw http.ResponseWriter, r *http.Request, rc *reqCtx, f settingsForm, status int) {
	l := rc.lang
	p := &SettingsPage{Shell: w.shell(rw, r, rc, l, translate(l, "settings.title"), "settings"), ScriptPath: w.staticPath("settings.js")}
	p.Preset = FormField{Name: "preset", ID: "s-preset", Label: translate(l, "settings.preset"), Kind: "select", Required: true,
		Hint: translate(l, "settings.preset_hint"), Wide: true, Error: settingsMessage(l, f.errs["preset"])}
	for _, v := range []string{identity.PresetMLPS3, identity.PresetNIST, identity.PresetCustom} {
		p.Preset.Options = append(p.Preset.Options, Option{Value: v, Label: translate(l, "settings.preset."+v), Selected: v == f.preset})
	}
	for _, preset := range []string{identity.PresetMLPS3, identity.PresetNIST} {
		ps, _ := identity.PresetSettings(preset)
		vals := map[string]any{}
		for _, sf := range settingFields {
			vals[sf.name] = sf.get(&ps)
		}
		b, _ := json.Marshal(vals)
		if preset == identity.PresetMLPS3 {
			p.PresetMLPS3 = string(b)
		} else {
			p.PresetNIST = string(b)
		}
	}
	for _, g := range settingGroups {
		grp := SettingsGroup{Title: translate(l, "settings.group."+g)}
		for _, sf := range settingFields {
			if sf.group != g {
				continue
			}
			ff := FormField{Name: sf.name, ID: "s-" + sf.name, Label: translate(l, "settings."+sf.name),
				Hint: translate(l, "settings."+sf.name+".hint"), Error: settingsMessage(l, f.errs[sf.name])}
			switch sf.kind {
			case "number":
				ff.Kind, ff.InputType, ff.Step, ff.Value, ff.Required = "input", "number", "1", f.values[sf.name], true
			case "checkbox":
				ff.Kind, ff.Checked = "checkbox", f.checks[sf.name]
			case "ranges":
				ff.Kind, ff.Value, ff.Wide = "textarea", f.values[sf.name], true
			}
			grp.Fields = append(grp.Fields, ff)
		}
		p.Groups = append(p.Groups, grp)
	}
	for k := range f.errs {
		if f.errs[k] != "" {
			p.HasErrors = true
		}
	}
	w.render(rw, r, status, "settings", p)
}

var (
	reBetween = regexp.MustCompile(`^must be between (\d+) and (\d+)$`)
	reNotCIDR = regexp.MustCompile(`^(".*") is not a CIDR range like 203\.0\.113\.0/24$`)
)

// settingsMessage translates a settings validation message.
func settingsMessage(l Lang, msg string) string {
	if msg == "" {
		return ""
	}
	if g := reBetween.FindStringSubmatch(msg); g != nil {
		return translate(l, "settings.err.between", g[1], g[2])
	}
	if g := reNotCIDR.FindStringSubmatch(msg); g != nil {
		return translate(l, "settings.err.cidr", g[1])
	}
	key := map[string]string{
		"must be a whole number":            "settings.err.number",
		"must be mlps3, nist or custom":     "settings.err.preset",
		"at most 100 ranges":                "settings.err.ranges",
		"must not exceed session_max_hours": "settings.err.idle",
		"must be below lockout_threshold, so a CAPTCHA is asked before the lock": "settings.err.captcha",
	}[msg]
	if key != "" {
		return translate(l, key)
	}
	return fieldMessage(l, msg)
}

// ---- Password rules on pages where a new password is typed ------------

// PasswordRules is the live checklist of the tenant's password rules
// beside a new-password field; static/password.js ticks each rule as the
// user types, reading the limits from data attributes. The server's check
// stays authoritative (common passwords and reuse only show after submit).
type PasswordRules struct {
	Input      string // ID of the new-password input
	Confirm    string // ID of the confirmation input, if any
	MinLength  int
	MaxLength  int
	MaxBytes   int
	Classes    int
	Login      string // forbidden parts of the login, one a line
	Name       string // forbidden parts of the name, one a line
	Live       []PasswordRule
	Later      []string // rules checked when the form is submitted
	Met        string
	Unmet      string
	ScriptPath string
}

// PasswordRule is one rule of the live checklist.
type PasswordRule struct {
	Code string // length, classes, identity, match
	Text string
}

// passwordRules builds the checklist for u from the tenant's settings.
func (w *Web) passwordRules(ctx context.Context, l Lang, tid tenant.ID, u identity.User, input, confirm string) (PasswordRules, error) {
	s := identity.DefaultSecuritySettings()
	if w.d.Settings != nil {
		var err error
		if s, err = w.d.Settings.Effective(ctx, tid); err != nil {
			return PasswordRules{}, err
		}
	}
	return w.buildPasswordRules(l, s, u, input, confirm), nil
}

// buildPasswordRules is the checklist of settings s for u's new password.
func (w *Web) buildPasswordRules(l Lang, s identity.SecuritySettings, u identity.User, input, confirm string) PasswordRules {
	login, name := identity.ForbiddenParts(u)
	minLen := max(s.PasswordMinLength, 8)
	pr := PasswordRules{
		Input: input, Confirm: confirm, MinLength: minLen, MaxLength: s.PasswordMaxLength, MaxBytes: identity.MaxPasswordBytes,
		Classes: s.PasswordClasses, Login: strings.Join(login, "\n"), Name: strings.Join(name, "\n"),
		Met: translate(l, "pwrule.met"), Unmet: translate(l, "pwrule.unmet"), ScriptPath: w.staticPath("password.js"),
	}
	pr.Live = append(pr.Live, PasswordRule{"length", translate(l, "pwrule.length", minLen, s.PasswordMaxLength)})
	if s.PasswordClasses > 0 {
		pr.Live = append(pr.Live, PasswordRule{"classes", translate(l, "pwrule.classes", s.PasswordClasses)})
	}
	pr.Live = append(pr.Live, PasswordRule{"identity", translate(l, "pwrule.identity")})
	if confirm != "" {
		pr.Live = append(pr.Live, PasswordRule{"match", translate(l, "pwrule.match")})
	}
	if s.PasswordCheckCommon {
		pr.Later = append(pr.Later, translate(l, "pwrule.common"))
	}
	if s.PasswordHistory > 0 {
		pr.Later = append(pr.Later, translate(l, "pwrule.history", s.PasswordHistory))
	} else {
		pr.Later = append(pr.Later, translate(l, "pwrule.current"))
	}
	return pr
}

// violationTexts turns a password_policy error into the UI's language,
// with the numbers of the rules in force from its details.policy. Every
// page where a new password is typed can use it.
func violationTexts(l Lang, e *apperr.Error) []string {
	codes, _ := e.Details["violations"].([]string)
	msgs, _ := e.Details["messages"].([]string)
	policy, _ := e.Details["policy"].(map[string]any)
	num := func(k string, def int) int {
		switch v := policy[k].(type) {
		case int:
			return v
		case float64:
			return int(v)
		}
		return def
	}
	var out []string
	for i, c := range codes {
		var t string
		switch c {
		case identity.ViolationMinLength:
			t = translate(l, "violation.min_length", num("min_length", 8))
		case identity.ViolationMaxLength:
			t = translate(l, "violation.max_length", num("max_length", 64))
		case identity.ViolationMaxBytes:
			t = translate(l, "violation.max_bytes", num("max_bytes", identity.MaxPasswordBytes))
		case identity.ViolationClasses:
			t = translate(l, "violation.classes", num("classes", 3))
		case identity.ViolationReused:
			if h := num("history", 0); h > 0 {
				t = translate(l, "violation.reused", h)
			} else {
				t = translate(l, "violation.reused_current")
			}
		case identity.ViolationInvalidText, identity.ViolationContainsLogin, identity.ViolationContainsName, identity.ViolationCommon:
			t = translate(l, "violation."+c)
		default:
			if i < len(msgs) {
				t = fieldMessage(l, msgs[i])
			} else {
				t = fieldMessage(l, c)
			}
		}
		out = append(out, t)
	}
	return out
}

// registerSettings adds the security settings page.
func (w *Web) registerSettings(mux *http.ServeMux) {
	mux.Handle("GET /settings/security", w.authed(w.securitySettingsPage))
	mux.Handle("POST /settings/security", w.authed(w.saveSecuritySettings))
}

// passwordRulesFor is the checklist for the signed-in user's own new
// password. Should the settings not load, it shows the defaults: the
// server's check on submit decides anyway.
func (w *Web) passwordRulesFor(r *http.Request, rc *reqCtx) PasswordRules {
	pr, err := w.passwordRules(r.Context(), rc.lang, rc.p.Actor.TenantID, rc.p.User, "new_password", "confirm_password")
	if err != nil {
		w.log.Error("load password rules", "request_id", httpx.RequestID(r.Context()), "err", err)
		pr = w.buildPasswordRules(rc.lang, identity.DefaultSecuritySettings(), rc.p.User, "new_password", "confirm_password")
	}
	return pr
}

package web

import (
	"context"
	"github.com/havencrm/haven/keyops"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// Field-level protection in the UI: showing one masked value with a
// reason (audited by the records service), and the admins' page that sets
// a field's encryption, search, mask rule, level per role and reveal
// rights, with the progress of the conversion job such a change starts.
//
// What reaches the pages is already projected for the actor by the
// records service (hidden fields absent, masked ones masked); the helpers
// here only decide how to present it and which controls to offer, so a
// mistake in them can hide a control but never show a value.

// Protection changes field protection and reveals masked values; the
// records service implements it.
type Protection interface {
	SetProtection(ctx context.Context, actor tenant.Actor, object, field string, p records.Protection) (records.Field, string, error)
	Reveal(ctx context.Context, actor tenant.Actor, object, id, field, reason string) (any, error)
}

// JobStatus reads background jobs for the field protection page (whose
// handlers admit admins only); *jobs.Queue implements it. Without it the
// pages still follow the field's own "converting" flag, only without a
// percentage.
type JobStatus interface {
	GetFor(ctx context.Context, actor tenant.Actor, id string) (jobs.Job, error)
	Unfinished(ctx context.Context, tid tenant.ID, key string) (jobs.Job, bool, error)
}

// fieldJob returns the unfinished conversion job of a field, if any. A
// failure to look it up costs only the percentage, so it is logged and
// the page goes on.
func (w *Web) fieldJob(ctx context.Context, rc *reqCtx, object, field string) (jobs.Job, bool) {
	if w.d.Jobs == nil {
		return jobs.Job{}, false
	}
	j, ok, err := w.d.Jobs.Unfinished(ctx, rc.actor().TenantID, keyops.FieldJobKey(object, field))
	if err != nil {
		w.log.Warn("looking up a field conversion job", "request_id", httpx.RequestID(ctx), "object", object, "field", field, "err", err)
		return jobs.Job{}, false
	}
	return j, ok
}

func init() {
	flashKinds["field_saved"] = false
}

func (w *Web) registerProtection(mux *http.ServeMux) {
	mux.Handle("GET /o/{object}/{id}/reveal/{field}", w.authed(w.revealForm))
	mux.Handle("POST /o/{object}/{id}/reveal/{field}", w.authed(w.revealSubmit))
	mux.Handle("GET /settings/fields", w.authed(w.fieldsIndex))
	mux.Handle("GET /settings/fields/{object}", w.authed(w.fieldsPage))
	mux.Handle("GET /settings/fields/{object}/{field}", w.authed(w.fieldEditForm))
	mux.Handle("POST /settings/fields/{object}/{field}", w.authed(w.saveFieldProtection))
	mux.Handle("GET /settings/fields/{object}/{field}/progress", w.authed(w.fieldProgress))
}

// FieldsNavActive reports whether the page belongs to the field
// protection area, for the layout's navigation link.
func (s *Shell) FieldsNavActive() bool {
	return s.Path == "/settings/fields" || strings.HasPrefix(s.Path, "/settings/fields/")
}

// ---- What the actor sees of a field --------------------------------------

func levelOf(actor tenant.Actor, f records.Field) access.FieldLevel {
	return access.FieldAccess(actor, f.Policy)
}

// sortableFor reports whether a list may be sorted by f for actor, by the
// records service's rules: sealed values have no order, and the order of
// values one may not read would leak them one comparison at a time.
func sortableFor(actor tenant.Actor, f records.Field) bool {
	return f.Type.Sortable() && !f.Encrypted && !f.CryptoPending && access.CanReadField(levelOf(actor, f))
}

// nameReadable reports whether actor reads the object's names in clear;
// otherwise lists can neither be searched nor sorted by name.
func nameReadable(actor tenant.Actor, obj records.Object) bool {
	nf, ok := obj.Field(obj.NameField)
	return !ok || access.CanReadField(levelOf(actor, nf))
}

// maskedValue presents a value the service masked: as plain text, never
// as a link (a mailto: or a lookup link would be built from the mask).
func maskedValue(l Lang, v any) Value {
	s, _ := v.(string)
	if s == "" {
		return Value{Text: translate(l, "value.empty"), Empty: true}
	}
	return Value{Text: s}
}

func revealHref(object, id, field string) string {
	return recordHref(object, id) + "/reveal/" + url.PathEscape(field)
}

// ---- Reveal ---------------------------------------------------------------

// RevealPage asks for the reason to show one masked value, and then shows
// the value once.
type RevealPage struct {
	Shell
	Object     ObjectView
	RecordName string
	NameMasked bool
	RecordHref string
	Heading    string
	FieldLabel string
	Masked     string // the value as the user normally sees it
	Action     string
	Reason     FormField
	Error      string
	Shown      bool
	Value      Value
}

// revealTarget loads what a reveal request names and checks that there is
// a masked value the actor may reveal, answering the request itself when
// not.
func (w *Web) revealTarget(rw http.ResponseWriter, r *http.Request, rc *reqCtx) (records.Object, records.Field, records.Record, bool) {
	if w.d.Protection == nil {
		w.notFoundRC(rw, r, rc)
		return records.Object{}, records.Field{}, records.Record{}, false
	}
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return records.Object{}, records.Field{}, records.Record{}, false
	}
	f, ok := obj.Field(r.PathValue("field"))
	if !ok || levelOf(rc.actor(), f) == access.FieldHidden {
		w.notFoundRC(rw, r, rc)
		return records.Object{}, records.Field{}, records.Record{}, false
	}
	rec, err := w.d.Records.Get(r.Context(), rc.actor(), obj.Name, r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return records.Object{}, records.Field{}, records.Record{}, false
	}
	if !slices.Contains(rec.Masked, f.Name) {
		// Nothing is masked for this user here (they read the field in
		// clear, or it has no value): the record page shows all there is.
		http.Redirect(rw, r, recordHref(obj.Name, rec.ID), http.StatusSeeOther)
		return records.Object{}, records.Field{}, records.Record{}, false
	}
	if !access.CanReveal(rc.actor(), f.Policy) {
		w.renderError(rw, r, rc, rc.lang, http.StatusForbidden, "reveal.forbidden_title", "reveal.forbidden_text")
		return records.Object{}, records.Field{}, records.Record{}, false
	}
	return obj, f, rec, true
}

func (w *Web) revealPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx, obj records.Object, f records.Field, rec records.Record, reason string) *RevealPage {
	l := rc.lang
	ov := objectView(l, obj)
	label := fieldLabel(l, f)
	p := &RevealPage{
		Object: ov, RecordName: displayName(l, rec.Name), NameMasked: slices.Contains(rec.Masked, obj.NameField),
		RecordHref: recordHref(obj.Name, rec.ID), Heading: translate(l, "reveal.title", label), FieldLabel: label,
		Masked: maskedValue(l, rec.Fields[f.Name]).Text, Action: revealHref(obj.Name, rec.ID, f.Name),
		Reason: FormField{Name: "reason", ID: "reveal-reason", Label: translate(l, "reveal.reason"), Kind: "textarea", Wide: true,
			Required: true, Value: truncateRunes(reason, 500), Hint: translate(l, "reveal.reason_hint")},
	}
	p.Shell = w.shell(rw, r, rc, l, p.Heading+" · "+p.RecordName, "o:"+obj.Name)
	return p
}

func (w *Web) revealForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, f, rec, ok := w.revealTarget(rw, r, rc)
	if !ok {
		return
	}
	w.render(rw, r, http.StatusOK, "reveal", w.revealPage(rw, r, rc, obj, f, rec, ""))
}

func (w *Web) revealSubmit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, f, rec, ok := w.revealTarget(rw, r, rc)
	if !ok {
		return
	}
	ctx, l := r.Context(), rc.lang
	reason := r.PostForm.Get("reason")
	v, err := w.d.Protection.Reveal(ctx, rc.actor(), obj.Name, rec.ID, f.Name, reason)
	if err != nil {
		if fe, isFields := fieldErrors(err); isFields && fe["reason"] != "" {
			p := w.revealPage(rw, r, rc, obj, f, rec, reason)
			p.Reason.Error = fieldMessage(l, fe["reason"])
			w.render(rw, r, http.StatusUnprocessableEntity, "reveal", p)
			return
		}
		switch {
		case apperr.Is(err, apperr.KindForbidden):
			w.renderError(rw, r, rc, l, http.StatusForbidden, "reveal.forbidden_title", "reveal.forbidden_text")
		case apperr.Is(err, apperr.KindInvalid):
			// The field stopped being masked for this user meanwhile.
			http.Redirect(rw, r, recordHref(obj.Name, rec.ID), http.StatusSeeOther)
		default:
			w.fail(rw, r, rc, err)
		}
		return
	}
	p := w.revealPage(rw, r, rc, obj, f, rec, "")
	p.Shown = true
	names := w.lookupNames(ctx, rc, obj, []records.Field{f}, []records.Record{{Fields: map[string]any{f.Name: v}}})
	p.Value = formatField(l, w.location(l), f, v, names)
	// The page is the only copy of the value: render already forbids
	// storing it (Cache-Control: no-store), and it is answered to the POST
	// directly rather than through a redirect that would need the value
	// kept somewhere in between.
	w.render(rw, r, http.StatusOK, "reveal", p)
}

// ---- Field protection (admins) -----------------------------------------

// FieldsPage is the field protection area: the table of an object's
// fields, the edit form of one field, or the progress of a conversion.
type FieldsPage struct {
	Shell
	Mode   string // table, edit, progress
	Tabs   []NavItem
	Object ObjectView
	Back   string

	// Table.
	RoleHeads []string
	Rows      []ProtectionRow

	// Edit form.
	FieldLabel string
	FieldName  string
	FieldType  string
	Action     string
	Pending    bool
	HasErrors  bool
	Encrypted  FormField
	Searchable FormField
	Mask       FormField
	KeepFirst  FormField
	KeepLast   FormField
	Levels     []FormField
	LevelsErr  string
	Reveal     []FormField
	RevealErr  string

	// Progress.
	Progress ProgressView
}

// ProtectionRow is one field of the protection table.
type ProtectionRow struct {
	Name         string
	Label        string
	Type         string
	IsName       bool
	Encrypted    bool
	Searchable   bool
	Mask         string
	Levels       []LevelBadge
	Reveal       string
	Pending      bool
	HasPct       bool
	Percent      int
	ProgressHref string
	EditHref     string
}

// LevelBadge is one role's level of a field.
type LevelBadge struct {
	Level string
	Label string
}

// ProgressView is the state of a field's conversion.
type ProgressView struct {
	Done     bool
	Failed   bool
	HasPct   bool
	Percent  int
	State    string
	Error    string
	Heading  string
	Text     string
	EditHref string
}

func fieldsHref(object string) string { return "/settings/fields/" + url.PathEscape(object) }

func fieldEditHref(object, field string) string {
	return fieldsHref(object) + "/" + url.PathEscape(field)
}

func (w *Web) fieldsAllowed(rw http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if w.d.Protection == nil {
		w.notFoundRC(rw, r, rc)
		return false
	}
	if !access.CanManageSchema(rc.actor()) {
		w.forbidden(rw, r, rc)
		return false
	}
	return true
}

func (w *Web) fieldsIndex(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.fieldsAllowed(rw, r, rc) {
		return
	}
	if len(rc.objects) == 0 {
		w.notFoundRC(rw, r, rc)
		return
	}
	http.Redirect(rw, r, fieldsHref(rc.objects[0].Name), http.StatusSeeOther)
}

// fieldsShell starts a page of the area for obj.
func (w *Web) fieldsShell(rw http.ResponseWriter, r *http.Request, rc *reqCtx, obj records.Object, title, mode string) *FieldsPage {
	l := rc.lang
	p := &FieldsPage{Mode: mode, Object: objectView(l, obj), Back: fieldsHref(obj.Name)}
	p.Shell = w.shell(rw, r, rc, l, title, "fields")
	for _, o := range rc.objects {
		p.Tabs = append(p.Tabs, NavItem{Label: objectLabel(l, o.Label, o.LabelZH), Href: fieldsHref(o.Name), Active: o.Name == obj.Name})
	}
	return p
}

func levelLabel(l Lang, level access.FieldLevel) string { return translate(l, "level."+string(level)) }

func maskLabel(l Lang, rule access.MaskRule) string {
	if rule == "" {
		rule = access.MaskFull
	}
	return translateOr(l, "mask."+string(rule), string(rule))
}

func roleLabel(l Lang, role string) string { return translateOr(l, "role."+role, role) }

func fieldTypeLabel(l Lang, t records.FieldType) string {
	return translateOr(l, "ftype."+string(t), string(t))
}

func (w *Web) fieldsPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.fieldsAllowed(rw, r, rc) {
		return
	}
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return
	}
	l := rc.lang
	ov := objectView(l, obj)
	p := w.fieldsShell(rw, r, rc, obj, translate(l, "fields.title")+" · "+ov.Label, "table")
	for _, role := range access.Roles {
		p.RoleHeads = append(p.RoleHeads, roleLabel(l, role))
	}
	for _, f := range obj.Fields {
		row := ProtectionRow{
			Name: f.Name, Label: fieldLabel(l, f), Type: fieldTypeLabel(l, f.Type), IsName: f.Name == obj.NameField,
			Encrypted: f.Encrypted, Searchable: f.Searchable, Pending: f.CryptoPending,
			EditHref: fieldEditHref(obj.Name, f.Name), ProgressHref: fieldEditHref(obj.Name, f.Name) + "/progress",
		}
		masks := false
		for _, role := range access.Roles {
			level := levelOf(tenant.Actor{Kind: tenant.ActorUser, Role: role}, f)
			masks = masks || level == access.FieldMasked
			row.Levels = append(row.Levels, LevelBadge{Level: string(level), Label: levelLabel(l, level)})
		}
		// A mask rule matters only where some role sees the field masked.
		if masks {
			row.Mask = maskLabel(l, f.Policy.Mask)
			if f.Policy.Mask == access.MaskCustom {
				row.Mask = translate(l, "fields.custom_keep", f.Policy.KeepFirst, f.Policy.KeepLast)
			}
		}
		var reveal []string
		for _, role := range f.Policy.Reveal {
			reveal = append(reveal, roleLabel(l, role))
		}
		row.Reveal = strings.Join(reveal, translate(l, "fields.list_sep"))
		if f.CryptoPending {
			if j, ok := w.fieldJob(r.Context(), rc, obj.Name, f.Name); ok {
				row.HasPct, row.Percent = true, j.Percent()
				row.ProgressHref += "?" + url.Values{"job": {j.ID}}.Encode()
			}
		}
		p.Rows = append(p.Rows, row)
	}
	w.render(rw, r, http.StatusOK, "fields", p)
}

// protectionForm is the edit form's state: the values shown and the
// errors by the service's keys (encrypted, searchable, mask, levels,
// reveal) plus keep_first and keep_last for input that is not a number.
type protectionForm struct {
	encrypted, searchable bool
	mask                  string
	keepFirst, keepLast   string
	levels                map[string]string
	reveal                map[string]bool
	errs                  map[string]string
}

func protectionFormOf(f records.Field) protectionForm {
	pf := protectionForm{encrypted: f.Encrypted, searchable: f.Searchable, mask: string(f.Policy.Mask),
		levels: map[string]string{}, reveal: map[string]bool{}, errs: map[string]string{}}
	if pf.mask == "" {
		pf.mask = string(access.MaskFull)
	}
	if f.Policy.Mask == access.MaskCustom {
		pf.keepFirst, pf.keepLast = strconv.Itoa(f.Policy.KeepFirst), strconv.Itoa(f.Policy.KeepLast)
	}
	for _, role := range access.Roles {
		pf.levels[role] = string(levelOf(tenant.Actor{Kind: tenant.ActorUser, Role: role}, f))
	}
	for _, role := range f.Policy.Reveal {
		pf.reveal[role] = true
	}
	return pf
}

// parseProtection reads the submitted form; cur is the field as stored.
func parseProtection(form url.Values, cur records.Field) (records.Protection, protectionForm) {
	pf := protectionForm{
		encrypted: form.Get("encrypted") == "true", searchable: form.Get("searchable") == "true",
		mask: form.Get("mask"), keepFirst: strings.TrimSpace(form.Get("keep_first")), keepLast: strings.TrimSpace(form.Get("keep_last")),
		levels: map[string]string{}, reveal: map[string]bool{}, errs: map[string]string{},
	}
	p := records.Protection{Encrypted: pf.encrypted, Searchable: pf.searchable,
		Policy: access.FieldPolicy{Mask: access.MaskRule(pf.mask), Levels: map[string]access.FieldLevel{}}}
	// "Whole value" is both the explicit rule and the default; keeping the
	// stored default spares the audit trail a change that changes nothing.
	if p.Policy.Mask == access.MaskFull && cur.Policy.Mask == "" {
		p.Policy.Mask = ""
	}
	if p.Policy.Mask == access.MaskCustom {
		// The keep counts belong to the custom rule only; with any other
		// rule whatever the (always visible) inputs hold is ignored.
		for _, k := range []struct {
			name, raw string
			dst       *int
		}{{"keep_first", pf.keepFirst, &p.Policy.KeepFirst}, {"keep_last", pf.keepLast, &p.Policy.KeepLast}} {
			if k.raw == "" {
				continue
			}
			n, err := strconv.Atoi(k.raw)
			if err != nil {
				pf.errs[k.name] = "must be a whole number"
				continue
			}
			*k.dst = n
		}
	}
	for _, role := range access.Roles {
		v := form.Get("level." + role)
		pf.levels[role] = v
		p.Policy.Levels[role] = access.FieldLevel(v)
		if form.Get("reveal."+role) == "true" {
			pf.reveal[role] = true
			p.Policy.Reveal = append(p.Policy.Reveal, role)
		}
	}
	pf.keepFirst, pf.keepLast = truncateRunes(pf.keepFirst, 10), truncateRunes(pf.keepLast, 10)
	return p, pf
}

func (w *Web) loadField(rw http.ResponseWriter, r *http.Request, rc *reqCtx) (records.Object, records.Field, bool) {
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return records.Object{}, records.Field{}, false
	}
	f, ok := obj.Field(r.PathValue("field"))
	if !ok {
		w.notFoundRC(rw, r, rc)
		return records.Object{}, records.Field{}, false
	}
	return obj, f, true
}

func (w *Web) fieldEditForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.fieldsAllowed(rw, r, rc) {
		return
	}
	obj, f, ok := w.loadField(rw, r, rc)
	if !ok {
		return
	}
	w.renderFieldForm(rw, r, rc, obj, f, protectionFormOf(f), http.StatusOK)
}

func (w *Web) saveFieldProtection(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.fieldsAllowed(rw, r, rc) {
		return
	}
	obj, f, ok := w.loadField(rw, r, rc)
	if !ok {
		return
	}
	p, pf := parseProtection(r.PostForm, f)
	if len(pf.errs) > 0 {
		w.renderFieldForm(rw, r, rc, obj, f, pf, http.StatusUnprocessableEntity)
		return
	}
	_, jobID, err := w.d.Protection.SetProtection(r.Context(), rc.actor(), obj.Name, f.Name, p)
	if err != nil {
		if fe, isFields := fieldErrors(err); isFields {
			for k, msg := range fe {
				pf.errs[k] = msg
			}
			w.renderFieldForm(rw, r, rc, obj, f, pf, http.StatusUnprocessableEntity)
			return
		}
		w.fail(rw, r, rc, err)
		return
	}
	if jobID != "" {
		http.Redirect(rw, r, fieldEditHref(obj.Name, f.Name)+"/progress?"+url.Values{"job": {jobID}}.Encode(), http.StatusSeeOther)
		return
	}
	w.setFlash(rw, "field_saved")
	http.Redirect(rw, r, fieldsHref(obj.Name)+"#field-"+url.PathEscape(f.Name), http.StatusSeeOther)
}

func (w *Web) renderFieldForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx, obj records.Object, f records.Field, pf protectionForm, status int) {
	l := rc.lang
	label := fieldLabel(l, f)
	p := w.fieldsShell(rw, r, rc, obj, translate(l, "fields.edit_title", label), "edit")
	p.FieldLabel, p.FieldName, p.FieldType = label, f.Name, fieldTypeLabel(l, f.Type)
	p.Action, p.Pending = fieldEditHref(obj.Name, f.Name), f.CryptoPending
	msg := func(key string) string { return protectionMessage(l, pf.errs[key]) }
	isName := f.Name == obj.NameField

	p.Encrypted = FormField{Name: "encrypted", ID: "p-encrypted", Label: translate(l, "fields.encrypted"), Kind: "checkbox",
		Checked: pf.encrypted, Hint: translate(l, "fields.encrypted_hint"), Error: msg("encrypted")}
	switch {
	case isName:
		p.Encrypted.Hint = translate(l, "fields.name_hint")
	case !f.Type.Encryptable():
		p.Encrypted.Hint = translate(l, "fields.not_encryptable")
	}
	p.Searchable = FormField{Name: "searchable", ID: "p-searchable", Label: translate(l, "fields.searchable"), Kind: "checkbox",
		Checked: pf.searchable, Hint: translate(l, "fields.searchable_hint"), Error: msg("searchable")}
	p.Mask = FormField{Name: "mask", ID: "p-mask", Label: translate(l, "fields.mask"), Kind: "select", Wide: true,
		Hint: translate(l, "fields.mask_hint"), Error: msg("mask")}
	for _, rule := range access.MaskRules {
		p.Mask.Options = append(p.Mask.Options, Option{Value: string(rule), Label: maskLabel(l, rule) + " — " + translate(l, "mask.example."+string(rule)), Selected: string(rule) == pf.mask})
	}
	p.KeepFirst = FormField{Name: "keep_first", ID: "p-keep_first", Label: translate(l, "fields.keep_first"), Kind: "input", InputType: "number",
		Step: "1", Value: pf.keepFirst, Hint: translate(l, "fields.keep_hint"), Error: protectionMessage(l, pf.errs["keep_first"])}
	p.KeepLast = FormField{Name: "keep_last", ID: "p-keep_last", Label: translate(l, "fields.keep_last"), Kind: "input", InputType: "number",
		Step: "1", Value: pf.keepLast, Hint: translate(l, "fields.keep_hint"), Error: protectionMessage(l, pf.errs["keep_last"])}
	for _, role := range access.Roles {
		ff := FormField{Name: "level." + role, ID: "p-level-" + role, Label: roleLabel(l, role), Kind: "select", Required: true}
		for _, level := range access.FieldLevels {
			if isName && level == access.FieldHidden {
				continue // names identify records everywhere: mask them instead
			}
			ff.Options = append(ff.Options, Option{Value: string(level), Label: levelLabel(l, level), Selected: string(level) == pf.levels[role]})
		}
		p.Levels = append(p.Levels, ff)
		p.Reveal = append(p.Reveal, FormField{Name: "reveal." + role, ID: "p-reveal-" + role, Label: roleLabel(l, role), Kind: "checkbox", Checked: pf.reveal[role]})
	}
	p.LevelsErr, p.RevealErr = msg("levels"), msg("reveal")
	for _, m := range pf.errs {
		p.HasErrors = p.HasErrors || m != ""
	}
	w.render(rw, r, status, "fields", p)
}

func (w *Web) fieldProgress(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.fieldsAllowed(rw, r, rc) {
		return
	}
	obj, f, ok := w.loadField(rw, r, rc)
	if !ok {
		return
	}
	ctx, l := r.Context(), rc.lang
	label := fieldLabel(l, f)
	p := w.fieldsShell(rw, r, rc, obj, translate(l, "fields.progress_title", label), "progress")
	p.FieldLabel, p.FieldName = label, f.Name
	pv := ProgressView{EditHref: fieldEditHref(obj.Name, f.Name), Done: !f.CryptoPending}
	id := r.URL.Query().Get("job")
	if id == "" && f.CryptoPending {
		if j, ok := w.fieldJob(ctx, rc, obj.Name, f.Name); ok {
			id = j.ID
		}
	}
	if id != "" && w.d.Jobs != nil {
		j, err := w.d.Jobs.GetFor(ctx, rc.actor(), id)
		switch {
		case err == nil:
			pv.HasPct, pv.Percent = true, j.Percent()
			pv.State = translateOr(l, "job."+string(j.State), string(j.State))
			// The job decides when it is over: a finished job with the field
			// still flagged means a newer change needs another pass, which
			// the table shows.
			pv.Done, pv.Failed = j.State.Finished(), j.State == jobs.Failed
			pv.Error = j.Error
		case apperr.Is(err, apperr.KindNotFound):
			// An unknown or foreign job: follow the field alone.
		default:
			w.fail(rw, r, rc, err)
			return
		}
	}
	switch {
	case pv.Failed:
		pv.Heading, pv.Text = translate(l, "fields.failed"), translate(l, "fields.failed_text")
	case pv.Done:
		pv.Heading, pv.Text = translate(l, "fields.converted"), translate(l, "fields.converted_text")
		pv.HasPct, pv.Percent = true, 100
	default:
		pv.Heading, pv.Text = translate(l, "fields.converting"), translate(l, "fields.converting_text")
		// Reload every 2 s until the conversion is over. The Refresh
		// header is the HTTP form of <meta http-equiv="refresh">: no
		// script, so the CSP holds, and no change to the shared layout.
		rw.Header().Set("Refresh", "2")
	}
	p.Progress = pv
	w.render(rw, r, http.StatusOK, "fields", p)
}

var (
	reCannotEncrypt = regexp.MustCompile(`^([a-z]+) fields cannot be encrypted$`)
	reUnknownRole   = regexp.MustCompile(`^unknown role (.*)$`)
	reKeepBetween   = regexp.MustCompile(`^keep_first and keep_last must be between 0 and (\d+)$`)
)

// protectionMessage translates a validation message of the protection
// form.
func protectionMessage(l Lang, msg string) string {
	switch {
	case msg == "":
		return ""
	case reCannotEncrypt.MatchString(msg):
		g := reCannotEncrypt.FindStringSubmatch(msg)
		return translate(l, "fields.err.type", fieldTypeLabel(l, records.FieldType(g[1])))
	case reUnknownRole.MatchString(msg):
		return translate(l, "fields.err.role", reUnknownRole.FindStringSubmatch(msg)[1])
	case reKeepBetween.MatchString(msg):
		return translate(l, "fields.err.keep", reKeepBetween.FindStringSubmatch(msg)[1])
	}
	if key, ok := protectionMessages[msg]; ok {
		return translate(l, key)
	}
	return fieldMessage(l, msg)
}

// protectionMessages maps the records service's fixed messages about
// protection to catalog keys.
var protectionMessages = map[string]string{
	"must be a whole number": "fields.err.number",
	"the name field identifies records in lists, lookups and the audit trail and cannot be encrypted; mask it instead": "fields.err.name_encrypt",
	"only encrypted fields have a search setting; other fields are always filterable":                                  "fields.err.searchable",
	"unknown mask rule": "fields.err.mask",
	"keep_first and keep_last apply only to the custom rule": "fields.err.keep_custom",
	"levels are hidden, masked, read or edit":                "fields.err.level",
	"the name field can be masked but not hidden":            "fields.err.name_hidden",
}

// maskedInput turns a record form input into one for a value the actor
// sees masked: it starts empty (the mask is no value to send back), shows
// the mask as placeholder, and leaving it empty keeps the stored value.
func maskedInput(l Lang, ff *FormField, masked any) {
	shown, _ := masked.(string)
	keep := translate(l, "form.masked_keep")
	if shown != "" {
		keep += " " + shown
	}
	ff.Masked, ff.Required, ff.Tag, ff.Hint = true, false, translate(l, "level.masked"), translate(l, "form.masked_hint")
	switch ff.Kind {
	case "select":
		if len(ff.Options) > 0 && ff.Options[0].Value == "" {
			ff.Options[0].Label = keep
		}
	case "checkbox":
		// An unticked box sends nothing, which here must mean "keep"; a
		// select tells keep, yes and no apart.
		ff.Kind = "select"
		ff.Options = []Option{
			{Value: "", Label: keep, Selected: ff.Value == ""},
			{Value: "true", Label: translate(l, "value.yes"), Selected: ff.Value == "true"},
			{Value: "false", Label: translate(l, "value.no"), Selected: ff.Value == "false"},
		}
	default:
		ff.Placeholder = shown
		if ff.InputType == "date" || ff.InputType == "datetime-local" {
			// Date inputs show no placeholder, and the mask is no date.
			ff.InputType = "text"
		}
	}
}

package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

const (
	listPageSize  = 25
	listColumns   = 5
	lookupChoices = 200
	historyPage   = 10
)

// ObjectView names an object in the page's language.
type ObjectView struct {
	Name    string
	Label   string
	Href    string
	NewHref string
}

func objectView(l Lang, o records.Object) ObjectView {
	return ObjectView{Name: o.Name, Label: objectLabel(l, o.Label, o.LabelZH), Href: objectHref(o.Name), NewHref: objectHref(o.Name) + "/new"}
}

func fieldLabel(l Lang, f records.Field) string { return objectLabel(l, f.Label, f.LabelZH) }

// loadObject returns the object of the request's {object} path value,
// answering 404 itself when the actor cannot see it.
func (w *Web) loadObject(rw http.ResponseWriter, r *http.Request, rc *reqCtx) (records.Object, bool) {
	obj, err := w.d.Records.Object(r.Context(), rc.actor(), r.PathValue("object"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return records.Object{}, false
	}
	return obj, true
}

// lookupNames resolves the names of every lookup value in recs.
func (w *Web) lookupNames(ctx context.Context, rc *reqCtx, obj records.Object, fields []records.Field, recs []records.Record) map[string]string {
	byObject := map[string][]string{}
	for _, f := range fields {
		if f.Type != records.TypeLookup {
			continue
		}
		for _, rec := range recs {
			if id, ok := rec.Fields[f.Name].(string); ok && id != "" {
				byObject[f.LookupObject] = append(byObject[f.LookupObject], id)
			}
		}
	}
	names := map[string]string{}
	for object, ids := range byObject {
		for id, n := range w.d.Records.Names(ctx, rc.actor(), object, ids) {
			names[id] = n
		}
	}
	return names
}

// ---- Home -------------------------------------------------------------

// HomePage is the dashboard.
type HomePage struct {
	Shell
	Welcome string
	Objects []ObjectView
	Recent  []RecentGroup
}

// RecentGroup lists the user's latest records of one object.
type RecentGroup struct {
	Object ObjectView
	Title  string
	Items  []RecentItem
}

// RecentItem is one recently updated record.
type RecentItem struct {
	Name    string
	Href    string
	Updated string
}

func (w *Web) home(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	p := &HomePage{Shell: w.shell(rw, r, rc, rc.lang, translate(rc.lang, "home.title"), "home"),
		Welcome: translate(rc.lang, "home.welcome", rc.p.User.Name)}
	for _, o := range rc.objects {
		p.Objects = append(p.Objects, objectView(rc.lang, o))
	}
	var featured []records.Object
	for _, name := range []string{records.ObjectAccount, records.ObjectOpportunity} {
		if o, ok := rc.object(name); ok {
			featured = append(featured, o)
		}
	}
	if len(featured) == 0 && len(rc.objects) > 0 {
		featured = rc.objects[:min(2, len(rc.objects))]
	}
	loc := w.location(rc.lang)
	for _, o := range featured {
		recs, _, err := w.d.Records.List(ctx, rc.actor(), o.Name, records.ListQuery{
			Limit: 10, Sort: "-" + records.SortUpdatedAt, Filters: map[string]string{"owner_id": rc.p.User.ID},
		})
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		ov := objectView(rc.lang, o)
		g := RecentGroup{Object: ov, Title: translate(rc.lang, "home.recent", ov.Label)}
		for _, rec := range recs {
			g.Items = append(g.Items, RecentItem{Name: displayName(rc.lang, rec.Name), Href: recordHref(o.Name, rec.ID), Updated: formatDateTime(rc.lang, loc, rec.UpdatedAt)})
		}
		p.Recent = append(p.Recent, g)
	}
	w.render(rw, r, http.StatusOK, "home", p)
}

func displayName(l Lang, name string) string {
	if strings.TrimSpace(name) == "" {
		return translate(l, "record.no_name")
	}
	return name
}

// ---- List -------------------------------------------------------------

// ListPage is one page of an object's records.
type ListPage struct {
	Shell
	Object    ObjectView
	Columns   []Column
	Rows      []Row
	Q         string
	Sort      string
	NextHref  string
	FirstHref string
	Notice    string
	Empty     string
	Count     string
	CanCreate bool
	// SearchOff hides the search box where the actor sees names masked
	// (the service refuses such searches); SearchPH names the encrypted
	// fields quick search also matches exactly for this actor.
	SearchOff bool
	SearchPH  string
	// MaskedTitle explains the lock shown on masked values.
	MaskedTitle string
	MaskedSR    string
	// Export is the list's export form (nil: not offered; web/listexport.go).
	Export *ListExport
}

// Column is one list column header.
type Column struct {
	Label    string
	SortHref string // empty: not sortable
	SortDir  string // "asc", "desc" or ""
	SortNote string // screen-reader text of the current order
	Num      bool
}

// Row is one listed record.
type Row struct {
	Name       string
	NameMasked bool
	Href       string
	Cells      []Cell
}

// Cell is one value of a list row; Masked values came masked from the
// records service and are marked as such.
type Cell struct {
	Value
	Masked bool
}

// columnFields picks the list's columns: the first few fields that are
// not long text, after the name field, leaving out fields hidden from the
// actor (they have no column at all, not an empty one).
func columnFields(actor tenant.Actor, obj records.Object) []records.Field {
	var out []records.Field
	for _, f := range obj.Fields {
		if f.Name == obj.NameField || f.Type == records.TypeTextarea || levelOf(actor, f) == access.FieldHidden {
			continue
		}
		out = append(out, f)
		if len(out) == listColumns {
			break
		}
	}
	return out
}

// validSort reports whether actor may sort a list of obj by s.
func validSort(actor tenant.Actor, obj records.Object, s string) bool {
	name := strings.TrimPrefix(s, "-")
	switch name {
	case records.SortCreatedAt, records.SortUpdatedAt:
		return true
	case records.SortName:
		// The order of masked names would spell them out.
		return nameReadable(actor, obj)
	}
	f, ok := obj.Field(name)
	return ok && sortableFor(actor, f)
}

func listHref(object, q, sortKey, cursor string) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if sortKey != "" {
		v.Set("sort", sortKey)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	h := objectHref(object)
	if len(v) > 0 {
		h += "?" + v.Encode()
	}
	return h
}

func (w *Web) listRecords(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return
	}
	ctx, l := r.Context(), rc.lang
	qv := r.URL.Query()
	q := strings.TrimSpace(qv.Get("q"))
	sortKey := qv.Get("sort")
	if !validSort(rc.actor(), obj, sortKey) {
		sortKey = ""
	}
	cursor := qv.Get("cursor")
	ov := objectView(l, obj)
	p := &ListPage{Shell: w.shell(rw, r, rc, l, ov.Label, "o:"+obj.Name), Object: ov, Q: q, Sort: sortKey,
		CanCreate:   access.CanRecord(rc.actor(), obj.Name, access.Create, ""),
		MaskedTitle: translate(l, "masked.title"), MaskedSR: translate(l, "masked.sr")}
	if len([]rune(q)) > 100 {
		p.Notice = translate(l, "list.bad_query", translate(l, "list.search_too_long"))
		q = ""
	}
	if !nameReadable(rc.actor(), obj) {
		p.SearchOff = true
		if q != "" {
			p.Notice = translate(l, "list.search_masked")
		}
		q, p.Q = "", ""
	}
	var exact []string
	for _, f := range obj.Fields {
		// Quick search matches these exactly through their blind index,
		// for those who may read them (records.Service.List).
		if f.Encrypted && f.Searchable && access.CanReadField(levelOf(rc.actor(), f)) {
			exact = append(exact, fieldLabel(l, f))
		}
	}
	p.SearchPH = translate(l, "list.search_ph")
	if len(exact) > 0 {
		p.SearchPH = translate(l, "list.search_ph_exact", strings.Join(exact, "/"))
	}
	recs, next, err := w.d.Records.List(ctx, rc.actor(), obj.Name, records.ListQuery{Limit: listPageSize, Cursor: cursor, Sort: sortKey, Q: q})
	if err != nil && apperr.Is(err, apperr.KindInvalid) && cursor != "" {
		p.Notice = translate(l, "list.bad_cursor")
		cursor = ""
		recs, next, err = w.d.Records.List(ctx, rc.actor(), obj.Name, records.ListQuery{Limit: listPageSize, Sort: sortKey, Q: q})
	}
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	cols := columnFields(rc.actor(), obj)
	header := func(label, key string, num bool) Column {
		c := Column{Label: label, Num: num}
		target := key
		switch sortKey {
		case key:
			c.SortDir, c.SortNote, target = "asc", translate(l, "list.sort_asc"), "-"+key
		case "-" + key:
			c.SortDir, c.SortNote = "desc", translate(l, "list.sort_desc")
		}
		c.SortHref = listHref(obj.Name, q, target, "")
		return c
	}
	nameField, _ := obj.Field(obj.NameField)
	if nameReadable(rc.actor(), obj) {
		p.Columns = append(p.Columns, header(fieldLabel(l, nameField), records.SortName, false))
	} else {
		p.Columns = append(p.Columns, Column{Label: fieldLabel(l, nameField)})
	}
	for _, f := range cols {
		num := f.Type == records.TypeNumber || f.Type == records.TypeCurrency
		// No sort link for what this user cannot sort by (encrypted,
		// masked): the service would refuse it.
		if sortableFor(rc.actor(), f) {
			p.Columns = append(p.Columns, header(fieldLabel(l, f), f.Name, num))
		} else {
			p.Columns = append(p.Columns, Column{Label: fieldLabel(l, f), Num: num})
		}
	}
	p.Columns = append(p.Columns, header(translate(l, "list.updated"), records.SortUpdatedAt, false))
	names := w.lookupNames(ctx, rc, obj, cols, recs)
	loc := w.location(l)
	for _, rec := range recs {
		row := Row{Name: displayName(l, rec.Name), NameMasked: slices.Contains(rec.Masked, obj.NameField), Href: recordHref(obj.Name, rec.ID)}
		for _, f := range cols {
			if slices.Contains(rec.Masked, f.Name) {
				row.Cells = append(row.Cells, Cell{Value: maskedValue(l, rec.Fields[f.Name]), Masked: true})
				continue
			}
			row.Cells = append(row.Cells, Cell{Value: formatField(l, loc, f, rec.Fields[f.Name], names)})
		}
		row.Cells = append(row.Cells, Cell{Value: Value{Text: formatDateTime(l, loc, rec.UpdatedAt)}})
		p.Rows = append(p.Rows, row)
	}
	if next != "" {
		p.NextHref = listHref(obj.Name, q, sortKey, next)
	}
	if cursor != "" {
		p.FirstHref = listHref(obj.Name, q, sortKey, "")
	}
	p.Export = w.listExportFor(ctx, rc, obj.Name, q, sortKey)
	switch {
	case len(p.Rows) == 0 && q != "":
		p.Empty = translate(l, "list.empty_search", q)
	case len(p.Rows) == 0:
		p.Empty = translate(l, "list.empty")
	case len(p.Rows) == 1:
		p.Count = translate(l, "list.showing_one")
	default:
		p.Count = translate(l, "list.showing", len(p.Rows))
	}
	w.render(rw, r, http.StatusOK, "list", p)
}

// ---- Detail -----------------------------------------------------------

// DetailPage shows one record with its history.
type DetailPage struct {
	Shell
	Object        ObjectView
	ID            string
	Name          string
	NameMasked    bool
	MaskedTitle   string
	MaskedSR      string
	Fields        []FieldValue
	Owner         string
	Created       string
	Updated       string
	Version       int64
	EditHref      string
	DeleteAction  string
	DeleteConfirm string
	CanEdit       bool
	CanDelete     bool
	History       []HistoryEntry
	OlderHref     string
	NewestHref    string
	// Attachments is the files section (web/attachments.go).
	Attachments AttachmentSection
}

// FieldValue is one labelled field of a record.
type FieldValue struct {
	Label string
	Value Value
	Wide  bool
	// Masked values came masked from the records service; RevealHref,
	// when set, leads to the form that shows the value for a reason.
	Masked      bool
	RevealHref  string
	RevealLabel string
}

// HistoryEntry is one audit event of a record.
type HistoryEntry struct {
	At      string
	Actor   string
	Action  string
	Badge   string
	Changes []ChangeView
	// Created and Deleted entries list values in one column: every change
	// only sets (or only clears) a value.
	Created bool
	Deleted bool
}

// ChangeView is one field's change.
type ChangeView struct {
	Label   string
	Before  string
	After   string
	Set     bool // there was no value before
	Cleared bool // there is no value after
	// Masked values: the service shows the audited values of encrypted
	// fields, and of fields the actor may not read, masked.
	Masked bool
}

func newChangeView(label string, c audit.Change) ChangeView {
	return ChangeView{Label: label, Set: c.Before == nil, Cleared: c.Before != nil && c.After == nil}
}

// classify marks entries whose changes only set or only clear values.
func (h *HistoryEntry) classify() {
	h.Created, h.Deleted = len(h.Changes) > 0, len(h.Changes) > 0
	for _, c := range h.Changes {
		h.Created = h.Created && c.Set
		h.Deleted = h.Deleted && c.Cleared
	}
}

func actionBadge(action string) string {
	switch {
	case strings.HasSuffix(action, ".create"):
		return "create"
	case strings.HasSuffix(action, ".delete"), strings.HasSuffix(action, ".deactivate"), strings.HasSuffix(action, "login_failed"):
		return "danger"
	case strings.HasSuffix(action, ".update"):
		return "update"
	}
	return "neutral"
}

func actionLabel(l Lang, action string) string {
	if _, ok := catalog["action."+action]; ok {
		return translate(l, "action."+action)
	}
	return action
}

func (w *Web) recordDetail(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return
	}
	ctx, l := r.Context(), rc.lang
	id := r.PathValue("id")
	rec, err := w.d.Records.Get(ctx, rc.actor(), obj.Name, id)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	var before int64
	if s := r.URL.Query().Get("before"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			before = n
		}
	}
	events, olderSeq, err := w.d.Records.History(ctx, rc.actor(), obj.Name, rec.ID, before, historyPage)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	loc := w.location(l)
	ov := objectView(l, obj)
	href := recordHref(obj.Name, rec.ID)
	name := displayName(l, rec.Name)
	p := &DetailPage{
		Shell: w.shell(rw, r, rc, l, name+" · "+ov.Label, "o:"+obj.Name), Object: ov, ID: rec.ID, Name: name,
		Owner: w.userName(ctx, rc, rec.OwnerID), Created: formatDateTime(l, loc, rec.CreatedAt), Updated: formatDateTime(l, loc, rec.UpdatedAt),
		Version: rec.Version, EditHref: href + "/edit", DeleteAction: href + "/delete",
		DeleteConfirm: translate(l, "detail.delete_confirm", name),
		CanEdit:       access.CanRecord(rc.actor(), obj.Name, access.Edit, rec.OwnerID),
		CanDelete:     access.CanRecord(rc.actor(), obj.Name, access.Delete, rec.OwnerID),
		NameMasked:    slices.Contains(rec.Masked, obj.NameField),
		MaskedTitle:   translate(l, "masked.title"), MaskedSR: translate(l, "masked.sr"),
	}
	names := w.lookupNames(ctx, rc, obj, obj.Fields, []records.Record{rec})
	for _, f := range obj.Fields {
		if f.Name == obj.NameField || levelOf(rc.actor(), f) == access.FieldHidden {
			continue
		}
		label := fieldLabel(l, f)
		fv := FieldValue{Label: label, Value: formatField(l, loc, f, rec.Fields[f.Name], names), Wide: f.Type == records.TypeTextarea}
		if slices.Contains(rec.Masked, f.Name) {
			fv.Value, fv.Masked = maskedValue(l, rec.Fields[f.Name]), true
			if w.d.Protection != nil && access.CanReveal(rc.actor(), f.Policy) {
				fv.RevealHref, fv.RevealLabel = revealHref(obj.Name, rec.ID, f.Name), translate(l, "detail.show_label", label)
			}
		}
		p.Fields = append(p.Fields, fv)
	}
	for _, e := range events {
		p.History = append(p.History, w.historyEntry(ctx, rc, obj, e))
	}
	if olderSeq > 0 {
		p.OlderHref = href + "?" + url.Values{"before": {strconv.FormatInt(olderSeq, 10)}}.Encode() + "#history"
	}
	if before > 0 {
		p.NewestHref = href + "#history"
	}
	p.Attachments = w.attachmentSection(ctx, rc, obj.Name, rec.ID, p.CanEdit)
	w.render(rw, r, http.StatusOK, "detail", p)
}

func (w *Web) historyEntry(ctx context.Context, rc *reqCtx, obj records.Object, e audit.Event) HistoryEntry {
	l, loc := rc.lang, w.location(rc.lang)
	h := HistoryEntry{At: formatDateTime(l, loc, e.At), Actor: actorName(l, e), Action: actionLabel(l, e.Action), Badge: actionBadge(e.Action)}
	for _, key := range changeKeys(obj, e.Changes) {
		c := e.Changes[key]
		cv := newChangeView("", c)
		if f, ok := obj.Field(key); ok {
			if levelOf(rc.actor(), f) == access.FieldHidden {
				continue // the service leaves these out; never label one
			}
			cv.Label = fieldLabel(l, f)
			cv.Before, cv.After = plainValue(l, loc, &f, c.Before), plainValue(l, loc, &f, c.After)
			cv.Masked = f.Encrypted || f.CryptoPending || !access.CanReadField(levelOf(rc.actor(), f))
		} else {
			cv.Label = genericFieldLabel(l, obj.Name, key)
			cv.Before, cv.After = plainValue(l, loc, nil, c.Before), plainValue(l, loc, nil, c.After)
			if key == "owner_id" {
				if s, ok := c.Before.(string); ok {
					cv.Before = w.userName(ctx, rc, s)
				}
				if s, ok := c.After.(string); ok {
					cv.After = w.userName(ctx, rc, s)
				}
			}
		}
		h.Changes = append(h.Changes, cv)
	}
	h.classify()
	return h
}

// changeKeys orders changed fields as the object lists them, then the
// rest by name.
func changeKeys(obj records.Object, changes map[string]audit.Change) []string {
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	pos := func(k string) int {
		for i, f := range obj.Fields {
			if f.Name == k {
				return i
			}
		}
		return len(obj.Fields)
	}
	sort.Slice(keys, func(i, j int) bool {
		pi, pj := pos(keys[i]), pos(keys[j])
		if pi != pj {
			return pi < pj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// genericFieldLabel labels a changed attribute of something that is not
// a record (a user, a field, the tenant), or a record's system column.
func genericFieldLabel(l Lang, objectType, key string) string {
	if _, ok := catalog["ufield."+objectType+"."+key]; ok {
		return translate(l, "ufield."+objectType+"."+key)
	}
	return translateOr(l, "ufield."+key, key)
}

// actorName is how an event's actor is shown.
func actorName(l Lang, e audit.Event) string {
	switch {
	case e.ActorType == string(tenant.ActorSystem):
		return translate(l, "audit.system")
	case e.ActorName == "":
		return translate(l, "audit.unknown_actor")
	}
	return e.ActorName
}

// ---- Create and edit --------------------------------------------------

// FormPage is the create or edit form of a record.
type FormPage struct {
	Shell
	Object     ObjectView
	Heading    string
	Action     string
	CancelHref string
	Submit     string
	IsEdit     bool
	Version    int64
	Fields     []FormField
	ShowOwner  bool
	Owner      FormField
	HasErrors  bool
	Conflict   bool
	ReloadHref string
	Error      string
}

// FormField is one input of a generated form.
type FormField struct {
	Name      string
	ID        string
	Label     string
	Kind      string // input, textarea, select, checkbox
	InputType string // for Kind input: text, number, email, tel, url, date, datetime-local
	Step      string
	MaxLength int
	Value     string
	Checked   bool
	Required  bool
	Options   []Option
	Error     string
	Hint      string
	Wide      bool
	// Record forms only (the recfield template of form.html): Masked
	// inputs start empty with the masked value as placeholder and keep
	// the stored value when left empty; ReadOnly ones are disabled and
	// never submitted. Tag is the short note beside the label.
	Masked      bool
	ReadOnly    bool
	Placeholder string
	Tag         string
}

// formInput is the submitted (or stored) string value of every field.
type formInput map[string]string

func (w *Web) newRecordForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return
	}
	if !access.CanRecord(rc.actor(), obj.Name, access.Create, "") {
		w.forbidden(rw, r, rc)
		return
	}
	p, err := w.formPage(rw, r, rc, obj, nil, formInput{}, rc.p.User.ID, nil)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.render(rw, r, http.StatusOK, "form", p)
}

func (w *Web) editRecordForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return
	}
	rec, err := w.d.Records.Get(r.Context(), rc.actor(), obj.Name, r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	if !access.CanRecord(rc.actor(), obj.Name, access.Edit, rec.OwnerID) {
		w.forbidden(rw, r, rc)
		return
	}
	in := storedInput(w.location(rc.lang), obj, rec)
	p, err := w.formPage(rw, r, rc, obj, &rec, in, rec.OwnerID, nil)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.render(rw, r, http.StatusOK, "form", p)
}

// storedInput is the form's initial input. Masked values are left out:
// the mask is not a value, and a form must not send it back as one.
func storedInput(loc *time.Location, obj records.Object, rec records.Record) formInput {
	in := formInput{}
	for _, f := range obj.Fields {
		if slices.Contains(rec.Masked, f.Name) {
			in[f.Name] = ""
			continue
		}
		in[f.Name] = formString(loc, f, rec.Fields[f.Name])
	}
	return in
}

func submittedInput(obj records.Object, form url.Values) formInput {
	in := formInput{}
	for _, f := range obj.Fields {
		in[f.Name] = strings.TrimSpace(form.Get(f.Name))
		if f.Type == records.TypeTextarea {
			// Browsers submit textarea line breaks as CRLF.
			in[f.Name] = strings.TrimRight(strings.ReplaceAll(form.Get(f.Name), "\r\n", "\n"), " \t\r\n")
		}
	}
	return in
}

// formPage builds the form. rec is nil for a new record; errs maps field
// names to service messages.
func (w *Web) formPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx, obj records.Object, rec *records.Record, in formInput, ownerID string, errs map[string]string) (*FormPage, error) {
	ctx, l := r.Context(), rc.lang
	ov := objectView(l, obj)
	p := &FormPage{Object: ov, CancelHref: ov.Href}
	if rec == nil {
		p.Heading = translate(l, "form.new_title", singular(l, obj))
		p.Action = ov.NewHref
		p.Submit = translate(l, "form.create")
	} else {
		href := recordHref(obj.Name, rec.ID)
		p.Heading = translate(l, "form.edit_title", displayName(l, rec.Name))
		p.Action, p.CancelHref, p.ReloadHref = href+"/edit", href, href+"/edit"
		p.Submit = translate(l, "form.save")
		p.IsEdit, p.Version = true, rec.Version
	}
	p.Shell = w.shell(rw, r, rc, l, p.Heading, "o:"+obj.Name)
	loc := w.location(l)
	for _, f := range obj.Fields {
		level := levelOf(rc.actor(), f)
		if level == access.FieldHidden {
			continue
		}
		value := in[f.Name]
		if !access.CanWriteField(level) && rec != nil {
			// Read-only inputs are not submitted: show the stored value.
			value = formString(loc, f, rec.Fields[f.Name])
		}
		ff, err := w.formField(ctx, rc, f, value)
		if err != nil {
			return nil, err
		}
		switch {
		case !access.CanWriteField(level):
			ff.ReadOnly, ff.Required, ff.Hint, ff.Tag = true, false, translate(l, "form.readonly_hint"), translate(l, "level.read")
		case level == access.FieldMasked && rec != nil && slices.Contains(rec.Masked, f.Name):
			maskedInput(l, &ff, rec.Fields[f.Name])
		}
		if msg, bad := errs[f.Name]; bad {
			ff.Error = fieldMessage(l, msg)
			p.HasErrors = true
		}
		p.Fields = append(p.Fields, ff)
	}
	if access.CanAssignOwner(rc.actor()) && access.CanListUsers(rc.actor()) {
		users, _, err := w.d.Identity.Users(ctx, rc.actor(), "", 200)
		if err != nil {
			return nil, err
		}
		p.ShowOwner = true
		p.Owner = FormField{Name: "owner_id", ID: "f-owner_id", Label: translate(l, "form.owner"), Kind: "select", Required: true}
		found := false
		for _, u := range users {
			if u.Status != identity.StatusActive && u.ID != ownerID {
				continue
			}
			p.Owner.Options = append(p.Owner.Options, Option{Value: u.ID, Label: u.Name, Selected: u.ID == ownerID})
			found = found || u.ID == ownerID
		}
		if !found && ownerID != "" {
			// Never let a missing option silently reassign the record.
			p.Owner.Options = append([]Option{{Value: ownerID, Label: w.userName(ctx, rc, ownerID), Selected: true}}, p.Owner.Options...)
		}
		if msg, bad := errs["owner_id"]; bad {
			p.Owner.Error = msg
			p.HasErrors = true
		}
	}
	return p, nil
}

// singular is the object's label used in "New …" headings.
func singular(l Lang, obj records.Object) string {
	label := objectLabel(l, obj.Label, obj.LabelZH)
	if l == LangEN {
		switch {
		case strings.HasSuffix(label, "ies"):
			return strings.TrimSuffix(label, "ies") + "y"
		case strings.HasSuffix(label, "s"):
			return strings.TrimSuffix(label, "s")
		}
	}
	return label
}

func (w *Web) formField(ctx context.Context, rc *reqCtx, f records.Field, value string) (FormField, error) {
	l := rc.lang
	ff := FormField{Name: f.Name, ID: "f-" + f.Name, Label: fieldLabel(l, f), Kind: "input", InputType: "text", Value: value, Required: f.Required, MaxLength: f.MaxLength}
	switch f.Type {
	case records.TypeText:
		if ff.MaxLength == 0 {
			ff.MaxLength = 255
		}
	case records.TypeTextarea:
		ff.Kind, ff.Wide = "textarea", true
	case records.TypeNumber:
		ff.InputType, ff.Step = "number", "any"
	case records.TypeCurrency:
		ff.InputType, ff.Step = "number", "0.01"
	case records.TypeDate:
		ff.InputType = "date"
	case records.TypeDatetime:
		ff.InputType, ff.Hint = "datetime-local", translate(l, "form.tz_hint")
	case records.TypeBoolean:
		ff.Kind, ff.Checked = "checkbox", value == "true" || value == "on"
	case records.TypeEmail:
		ff.InputType = "email"
	case records.TypePhone:
		ff.InputType = "tel"
	case records.TypeURL:
		ff.InputType = "url"
	case records.TypePicklist:
		ff.Kind = "select"
		ff.Options = append(ff.Options, Option{Value: "", Label: translate(l, "form.choose")})
		found := value == ""
		for _, o := range f.Options {
			ff.Options = append(ff.Options, Option{Value: o, Label: optionLabel(l, o), Selected: o == value})
			found = found || o == value
		}
		if !found {
			ff.Options = append(ff.Options, Option{Value: value, Label: value, Selected: true})
		}
	case records.TypeLookup:
		ff.Kind = "select"
		ff.Options = append(ff.Options, Option{Value: "", Label: translate(l, "form.none")})
		recs, _, err := w.d.Records.List(ctx, rc.actor(), f.LookupObject, records.ListQuery{Limit: lookupChoices, Sort: records.SortName})
		if err != nil && !apperr.Is(err, apperr.KindNotFound) {
			return ff, err
		}
		found := value == ""
		for _, rec := range recs {
			ff.Options = append(ff.Options, Option{Value: rec.ID, Label: displayName(l, rec.Name), Selected: rec.ID == value})
			found = found || rec.ID == value
		}
		if !found {
			label := shortID(value)
			if n, ok := w.d.Records.Names(ctx, rc.actor(), f.LookupObject, []string{value})[value]; ok {
				label = displayName(l, n)
			}
			// Keep the current value selectable even beyond the first page.
			ff.Options = slices.Insert(ff.Options, 1, Option{Value: value, Label: label, Selected: true})
		}
	}
	return ff, nil
}

// parseValues converts submitted strings into the records service's
// input. only, when set, limits the conversion to those fields.
func parseValues(loc *time.Location, obj records.Object, in formInput, only func(records.Field) bool) (records.Values, map[string]string) {
	vals := records.Values{}
	errs := map[string]string{}
	for _, f := range obj.Fields {
		if only != nil && !only(f) {
			continue
		}
		s := in[f.Name]
		if f.Type == records.TypeDatetime && s != "" {
			for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
				if t, err := time.ParseInLocation(layout, s, loc); err == nil {
					s = t.UTC().Format(time.RFC3339)
					break
				}
			}
		}
		raw, msg := records.FormInput(f, s)
		if msg != "" {
			errs[f.Name] = msg
			continue
		}
		vals[f.Name] = raw
	}
	return vals, errs
}

// fieldErrors extracts per-field messages from a validation error.
func fieldErrors(err error) (map[string]string, bool) {
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindInvalid {
		return nil, false
	}
	switch m := e.Details["fields"].(type) {
	case map[string]string:
		return m, len(m) > 0
	case map[string]any:
		out := map[string]string{}
		for k, v := range m {
			s, _ := v.(string)
			out[k] = s
		}
		return out, len(out) > 0
	}
	return nil, false
}

// ownerChoice checks the submitted owner: only managers and admins get
// the owner select, and only an active user of the tenant is accepted.
// For everyone else the owner is left to the service ("" = unchanged or
// the actor).
func (w *Web) ownerChoice(ctx context.Context, rc *reqCtx, submitted, current string) (string, bool, error) {
	if !access.CanAssignOwner(rc.actor()) || !access.CanListUsers(rc.actor()) {
		return "", true, nil
	}
	if submitted == "" || submitted == current {
		return current, true, nil
	}
	if !tenant.ValidID(submitted) {
		return "", false, nil
	}
	users, _, err := w.d.Identity.Users(ctx, rc.actor(), "", 200)
	if err != nil {
		return "", false, err
	}
	for _, u := range users {
		if u.ID == submitted && u.Status == identity.StatusActive {
			return submitted, true, nil
		}
	}
	return "", false, nil
}

func (w *Web) createRecord(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return
	}
	if !access.CanRecord(rc.actor(), obj.Name, access.Create, "") {
		w.forbidden(rw, r, rc)
		return
	}
	ctx := r.Context()
	in := submittedInput(obj, r.PostForm)
	// Hidden and read-only fields are not in the form; sending them (even
	// empty) would be refused as changes the user may not make.
	vals, errs := parseValues(w.location(rc.lang), obj, in, func(f records.Field) bool {
		return access.CanWriteField(levelOf(rc.actor(), f))
	})
	submittedOwner := r.PostForm.Get("owner_id")
	owner, ownerOK, err := w.ownerChoice(ctx, rc, submittedOwner, "")
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	if !ownerOK {
		errs["owner_id"] = translate(rc.lang, "form.owner_invalid")
	}
	if len(errs) == 0 {
		rec, err := w.d.Records.Create(ctx, rc.actor(), obj.Name, owner, vals)
		if err == nil {
			w.setFlash(rw, "created")
			http.Redirect(rw, r, recordHref(obj.Name, rec.ID), http.StatusSeeOther)
			return
		}
		fe, isFields := fieldErrors(err)
		if !isFields {
			w.formFailure(rw, r, rc, obj, nil, in, submittedOwner, err)
			return
		}
		errs = fe
	}
	w.showFormErrors(rw, r, rc, obj, nil, in, submittedOwner, errs)
}

func (w *Web) showFormErrors(rw http.ResponseWriter, r *http.Request, rc *reqCtx, obj records.Object, rec *records.Record, in formInput, owner string, errs map[string]string) {
	p, err := w.formPage(rw, r, rc, obj, rec, in, owner, errs)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	p.HasErrors = true
	// Messages about fields the form does not show go to the summary.
	for k, msg := range errs {
		if f, ok := obj.Field(k); (!ok || levelOf(rc.actor(), f) == access.FieldHidden) && k != "owner_id" {
			p.Error = translate(rc.lang, "form.general_error", fieldMessage(rc.lang, msg))
		}
	}
	w.render(rw, r, http.StatusUnprocessableEntity, "form", p)
}

// formFailure handles service errors that are not per-field validation.
func (w *Web) formFailure(rw http.ResponseWriter, r *http.Request, rc *reqCtx, obj records.Object, rec *records.Record, in formInput, owner string, err error) {
	e, ok := apperr.As(err)
	status := http.StatusUnprocessableEntity
	var msg string
	switch {
	case ok && e.Kind == apperr.KindForbidden && e.Code != apperr.CodePasswordExpired:
		status, msg = http.StatusForbidden, translate(rc.lang, "form.forbidden")
	case ok && e.Kind == apperr.KindInvalid:
		msg = translate(rc.lang, "form.general_error", fieldMessage(rc.lang, e.Message))
	case ok && e.Kind == apperr.KindConflict && rec != nil:
		status = http.StatusConflict
	default:
		w.fail(rw, r, rc, err)
		return
	}
	p, perr := w.formPage(rw, r, rc, obj, rec, in, owner, nil)
	if perr != nil {
		w.fail(rw, r, rc, perr)
		return
	}
	p.Error = msg
	p.Conflict = status == http.StatusConflict
	w.render(rw, r, status, "form", p)
}

func (w *Web) updateRecord(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return
	}
	ctx := r.Context()
	cur, err := w.d.Records.Get(ctx, rc.actor(), obj.Name, r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	version, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if err != nil || version <= 0 {
		w.renderError(rw, r, rc, rc.lang, http.StatusBadRequest, "error.400.title", "error.400.text")
		return
	}
	loc := w.location(rc.lang)
	in := submittedInput(obj, r.PostForm)
	stored := storedInput(loc, obj, cur)
	// Only the fields the user changed are sent, so values the user never
	// touched are never written back. A masked input starts empty (the
	// user never had the value to compare with): empty means "keep", and
	// anything typed replaces the value. Hidden and read-only fields are
	// not in the form at all.
	vals, errs := parseValues(loc, obj, in, func(f records.Field) bool {
		switch level := levelOf(rc.actor(), f); {
		case level == access.FieldMasked:
			return in[f.Name] != ""
		case access.CanWriteField(level):
			return in[f.Name] != stored[f.Name]
		}
		return false
	})
	// The form keeps the version the user started from.
	formRec := cur
	formRec.Version = version
	submittedOwner := r.PostForm.Get("owner_id")
	owner, ownerOK, err := w.ownerChoice(ctx, rc, submittedOwner, cur.OwnerID)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	if !ownerOK {
		errs["owner_id"] = translate(rc.lang, "form.owner_invalid")
	}
	if owner == cur.OwnerID {
		owner = ""
	}
	if len(errs) == 0 {
		_, err := w.d.Records.Update(ctx, rc.actor(), obj.Name, cur.ID, version, owner, vals)
		if err == nil {
			w.setFlash(rw, "saved")
			http.Redirect(rw, r, recordHref(obj.Name, cur.ID), http.StatusSeeOther)
			return
		}
		fe, isFields := fieldErrors(err)
		if !isFields {
			w.formFailure(rw, r, rc, obj, &formRec, in, submittedOwner, err)
			return
		}
		errs = fe
	}
	w.showFormErrors(rw, r, rc, obj, &formRec, in, submittedOwner, errs)
}

func (w *Web) deleteRecord(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	obj, ok := w.loadObject(rw, r, rc)
	if !ok {
		return
	}
	id := r.PathValue("id")
	version, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if err != nil || version <= 0 {
		w.renderError(rw, r, rc, rc.lang, http.StatusBadRequest, "error.400.title", "error.400.text")
		return
	}
	err = w.d.Records.Delete(r.Context(), rc.actor(), obj.Name, id, version)
	switch {
	case err == nil:
		w.setFlash(rw, "deleted")
		http.Redirect(rw, r, objectHref(obj.Name), http.StatusSeeOther)
	case apperr.Is(err, apperr.KindConflict):
		w.setFlash(rw, "delete_conflict")
		http.Redirect(rw, r, recordHref(obj.Name, id), http.StatusSeeOther)
	default:
		w.fail(rw, r, rc, err)
	}
}

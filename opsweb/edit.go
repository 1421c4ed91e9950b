package opsweb

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/records"
)

// Changes under a grant that allows writes make exactly the decisions
// opsapi's grantedUpdate makes: the operator's active grant must allow
// changes to this object (read afresh on every request, so a revocation
// or the end of the window counts at once), the change goes through the
// records service as an operator actor bound to that grant, which
// refuses fields the operator sees masked and writes record.update via
// grant:ID in the tenant's trail, and the owner is never sent. The form
// adds nothing the API does not allow; it only shows less.

func recordHref(slug, object, id string) string {
	return recordsHref(slug, object) + "/" + url.PathEscape(id)
}

// canWrite reports whether the operator holds, now, a grant that allows
// changes to the object of gr. The page was authorized by the newest
// grant covering reads, which may be a read-only one beside a write one,
// so the write grant is looked up on its own.
func (c *Console) canWrite(r *http.Request, gr grantedRead) bool {
	if gr.grant.Scope.Write {
		return true
	}
	_, err := c.d.Support.ActiveGrant(r.Context(), gr.op.ID, gr.tid, gr.object, true)
	return err == nil
}

// EditPage is the form that changes one record under a write grant.
type EditPage struct {
	Shell
	Grant       GrantNote
	ObjectLabel string
	ListHref    string
	RecordHref  string
	Action      string
	Name        string
	NameMasked  bool
	Version     int64
	Fields      []EditField
	// Error is a refusal not tied to a shown field; Conflict says the
	// record changed since the form was opened.
	Error     string
	Conflict  bool
	HasErrors bool
}

// EditField is one field of the form: an input when the operator may
// set it, else the value exactly as the records service presented it
// (masked text for protected fields), never an input.
type EditField struct {
	Name, ID, Label string
	Kind            string // input, textarea, select, checkbox
	InputType       string
	Value           string
	Checked         bool
	Required        bool
	MaxLength       int
	Step            string
	Options         []Option
	ReadOnly        bool
	Masked          bool
	Empty           bool
	Hint            string
	Error           string
}

// settable reports whether the form offers f as an input. Lookups stay
// read-only: choosing the related record would mean listing another
// object, which the grant may not cover.
func settable(gr grantedRead, f records.Field) bool {
	return f.Type != records.TypeLookup && access.CanSetField(gr.actor, f.Policy)
}

// editFields lists the object's fields in the schema's order, the name
// field first.
func editFields(obj records.Object) []records.Field {
	fs := slices.Clone(obj.Fields)
	sort.SliceStable(fs, func(a, b int) bool {
		if (fs[a].Name == obj.NameField) != (fs[b].Name == obj.NameField) {
			return fs[a].Name == obj.NameField
		}
		return fs[a].Position < fs[b].Position
	})
	return fs
}

// formValue shows a stored value in an input: datetimes as the
// datetime-local input expects them, in UTC like every time here.
func formValue(f records.Field, v any) string {
	switch x := v.(type) {
	case string:
		if f.Type == records.TypeDatetime {
			if t, err := time.Parse(time.RFC3339, x); err == nil {
				return t.UTC().Format("2006-01-02T15:04")
			}
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// editPage builds the form from the record as the operator sees it.
// submitted holds the values the operator typed (nil: the stored ones);
// errs maps field names to the records service's messages.
func (c *Console) editPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx, gr grantedRead, rec records.Record, submitted url.Values, errs map[string]string) *EditPage {
	l := rc.lang
	obj := c.schema(r, gr)
	label := objectLabel(l, gr.object, obj.Label, obj.LabelZH)
	href := recordHref(gr.slug, gr.object, rec.ID)
	p := &EditPage{Shell: c.shell(rw, r, rc, l, translate(l, "edit.title", rec.Name), ""), Grant: c.grantNote(gr), ObjectLabel: label,
		ListHref: recordsHref(gr.slug, gr.object), RecordHref: href, Action: href + "/edit", Name: rec.Name, Version: rec.Version,
		NameMasked: obj.NameField != "" && slices.Contains(rec.Masked, obj.NameField)}
	shown := map[string]bool{}
	for _, f := range editFields(obj) {
		shown[f.Name] = true
		ef := EditField{Name: f.Name, ID: "f-" + f.Name, Label: fieldLabel(l, obj, f.Name)}
		if !settable(gr, f) {
			cl := cell(l, rec, ef.Label, f.Name)
			ef.ReadOnly, ef.Masked, ef.Empty, ef.Value = true, cl.Masked, cl.Empty, cl.Text
			ef.Hint = translate(l, "edit.readonly")
			// Said of a protected field even while it is empty: the
			// operator could never set it, whatever the record holds.
			if cl.Masked || access.FieldAccess(gr.actor, f.Policy) == access.FieldMasked {
				ef.Hint = translate(l, "edit.masked")
			}
		} else {
			value := formValue(f, rec.Fields[f.Name])
			if vs, ok := submitted[f.Name]; ok && len(vs) > 0 {
				value = vs[len(vs)-1]
			}
			ef.Kind, ef.InputType, ef.Value, ef.Required, ef.MaxLength = "input", "text", value, f.Required, f.MaxLength
			switch f.Type {
			case records.TypeTextarea:
				ef.Kind = "textarea"
			case records.TypeNumber:
				ef.InputType, ef.Step = "number", "any"
			case records.TypeCurrency:
				ef.InputType, ef.Step = "number", "0.01"
			case records.TypeDate:
				ef.InputType = "date"
			case records.TypeDatetime:
				ef.InputType, ef.Hint = "datetime-local", translate(l, "edit.utc")
			case records.TypeBoolean:
				ef.Kind, ef.Checked = "checkbox", value == "true"
			case records.TypeEmail:
				ef.InputType = "email"
			case records.TypePhone:
				ef.InputType = "tel"
			case records.TypeURL:
				ef.InputType = "url"
			case records.TypePicklist:
				ef.Kind = "select"
				ef.Options = append(ef.Options, Option{Value: "", Label: translate(l, "edit.choose")})
				found := value == ""
				for _, o := range f.Options {
					ef.Options = append(ef.Options, Option{Value: o, Label: o, Selected: o == value})
					found = found || o == value
				}
				if !found {
					// A value outside the options (set before they
					// changed) stays selectable rather than silently lost.
					ef.Options = append(ef.Options, Option{Value: value, Label: value, Selected: true})
				}
			}
		}
		if msg, bad := errs[f.Name]; bad {
			ef.Error = fieldMessage(l, msg)
			p.HasErrors = true
		}
		p.Fields = append(p.Fields, ef)
	}
	// A message about something the form does not show (the version, a
	// field the schema no longer has) goes above the form.
	for name, msg := range errs {
		if !shown[name] {
			p.Error = translate(l, "edit.general_error", fieldMessage(l, msg))
			p.HasErrors = true
		}
	}
	return p
}

// editForm shows the form. The values it shows are a read of the record,
// so they go to the tenant's trail like any other read.
func (c *Console) editForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	gr, ok := c.granted(rw, r, rc, true)
	if !ok {
		return
	}
	ctx := r.Context()
	rec, err := c.d.Records.Get(ctx, gr.actor, gr.object, r.PathValue("id"))
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	if err := c.d.Support.RecordUse(ctx, gr.op, gr.tid, gr.grant, "read", gr.object, []string{rec.ID}); err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	c.render(rw, r, http.StatusOK, "edit", c.editPage(rw, r, rc, gr, rec, nil, nil))
}

// msgNotSettable is the records service's own message for a field the
// actor may not set, so a forged field reads like the service's refusal.
const msgNotSettable = "you may not change this field"

// editSubmit changes the record. Only fields present in the form are
// sent, so a field the form did not offer is never cleared by omission;
// a field the operator may not set is refused beside it before the
// service is asked, and the service checks every field again.
func (c *Console) editSubmit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	gr, ok := c.granted(rw, r, rc, true)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	form := r.PostForm
	obj := c.schema(r, gr)
	vals := records.Values{}
	errs := map[string]string{}
	for _, f := range obj.Fields {
		vs, present := form[f.Name]
		if !present || len(vs) == 0 {
			continue
		}
		if !settable(gr, f) {
			errs[f.Name] = msgNotSettable
			continue
		}
		// A checkbox follows a hidden "false" of the same name, so the
		// last value is the box's when it is ticked.
		s := vs[len(vs)-1]
		if f.Type == records.TypeTextarea {
			// Browsers submit textarea line breaks as CRLF.
			s = strings.ReplaceAll(s, "\r\n", "\n")
		}
		raw, msg := records.FormInput(f, s)
		if msg != "" {
			errs[f.Name] = msg
			continue
		}
		vals[f.Name] = raw
	}
	version, _ := strconv.ParseInt(form.Get("version"), 10, 64)
	var err error
	if len(errs) == 0 {
		var rec records.Record
		rec, err = c.d.Records.Update(ctx, gr.actor, gr.object, id, version, "", vals)
		if err == nil {
			c.setFlash(rw, "record_updated")
			http.Redirect(rw, r, recordHref(gr.slug, gr.object, rec.ID), http.StatusSeeOther)
			return
		}
	}
	status, conflict := http.StatusUnprocessableEntity, false
	if err != nil {
		e, ok := apperr.As(err)
		switch {
		case ok && e.Kind == apperr.KindInvalid:
			errs = fieldErrorsOf(e)
		case ok && e.Kind == apperr.KindConflict:
			status, conflict = http.StatusConflict, true
		default:
			// Forbidden (the records service's own refusal), not found
			// and the rest answer as they would anywhere in the console.
			c.fail(rw, r, rc, err)
			return
		}
	}
	// The form is shown again with the record as it stands now: on a
	// conflict that is the other change, which the operator must see
	// before deciding again.
	rec, gerr := c.d.Records.Get(ctx, gr.actor, gr.object, id)
	if gerr != nil {
		c.fail(rw, r, rc, gerr)
		return
	}
	if err := c.d.Support.RecordUse(ctx, gr.op, gr.tid, gr.grant, "read", gr.object, []string{rec.ID}); err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	submitted := form
	if conflict {
		// Typed values would hide what changed; the operator starts again
		// from the current record.
		submitted = nil
	}
	p := c.editPage(rw, r, rc, gr, rec, submitted, errs)
	p.Conflict = conflict
	c.render(rw, r, status, "edit", p)
}

// fieldErrorsOf extracts the per-field messages of a validation error;
// one without fields becomes a message above the form.
func fieldErrorsOf(e *apperr.Error) map[string]string {
	out := map[string]string{}
	switch m := e.Details["fields"].(type) {
	case map[string]string:
		for k, v := range m {
			out[k] = v
		}
	case map[string]any:
		for k, v := range m {
			s, _ := v.(string)
			out[k] = s
		}
	}
	if len(out) == 0 {
		out[""] = e.Message
	}
	return out
}

// fieldMessages are the records service's validation messages, as keys
// of the console's catalog; fieldMessage shows any other message as the
// service wrote it, inside a sentence of the page's language.
var fieldMessages = map[string]string{
	"is required":                          "field.required",
	"required":                             "field.required",
	"unknown field":                        "field.unknown",
	msgNotSettable:                         "field.not_settable",
	"must be a string":                     "field.text",
	"must be a number":                     "field.number",
	"must be true or false":                "field.boolean",
	"is too large":                         "field.too_large",
	"must have at most two decimal places": "field.decimals",
	"must be valid UTF-8":                  "field.invalid_text",
	"must not contain control characters":  "field.invalid_text",
	"must be a single line":                "field.single_line",
	"must be an e-mail address like name@example.com":                        "field.email",
	"must be a phone number (digits, spaces, dashes, an optional leading +)": "field.phone",
	"must be an http or https address":                                       "field.url",
	"must be a date like 2026-01-31":                                         "field.date",
	"must be a date and time like 2026-01-31T09:30:00+08:00":                 "field.datetime",
	"required: the version you last read":                                    "field.version",
}

var reAtMostChars = regexp.MustCompile(`^must be at most (\d+) characters$`)

func fieldMessage(l Lang, msg string) string {
	if key, ok := fieldMessages[msg]; ok {
		return translate(l, key)
	}
	if g := reAtMostChars.FindStringSubmatch(msg); g != nil {
		return translate(l, "field.max_chars", g[1])
	}
	if rest, ok := strings.CutPrefix(msg, "must be one of: "); ok {
		return translate(l, "field.one_of", rest)
	}
	return translate(l, "field.other", msg)
}

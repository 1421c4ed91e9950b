package opsweb

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// The scoped read-only views make exactly the decisions opsapi's granted
// reads make: resolve the tenant, find the operator's active grant for
// the object (afresh on every request, so a revocation counts at once),
// read as an operator actor bound to that grant (masked, never
// decrypted), and record the read in the tenant's audit trail before
// anything is rendered. No grant, whatever the reason, is one refusal
// page.

// grantedRead is an authorized read under a grant.
type grantedRead struct {
	tid    tenant.ID
	slug   string
	name   string
	object string
	grant  supportaccess.Grant
	actor  tenant.Actor
	op     supportaccess.Operator
}

// granted authorizes the request under a grant that covers the object
// (and allows changes when write); ok false means the refusal (or an
// error page) was already written.
func (c *Console) granted(rw http.ResponseWriter, r *http.Request, rc *reqCtx, write bool) (grantedRead, bool) {
	slug, object := r.PathValue("slug"), r.PathValue("object")
	if len(slug) > 63 || len(object) > 63 {
		c.refuse(rw, r, rc)
		return grantedRead{}, false
	}
	t, err := c.d.Tenants.TenantBySlug(r.Context(), slug)
	if err != nil {
		// An unknown tenant is refused like one without a grant.
		if !apperr.Is(err, apperr.KindNotFound) && !apperr.Is(err, apperr.KindInvalid) {
			c.log.Warn("ops tenant lookup", "request_id", httpx.RequestID(r.Context()), "err", err)
		}
		c.refuse(rw, r, rc)
		return grantedRead{}, false
	}
	op := rc.operator(r)
	g, err := c.d.Support.ActiveGrant(r.Context(), op.ID, t.ID, object, write)
	if err != nil {
		if apperr.Is(err, apperr.KindForbidden) || apperr.Is(err, apperr.KindNotFound) {
			c.refuse(rw, r, rc)
			return grantedRead{}, false
		}
		c.fail(rw, r, rc, err)
		return grantedRead{}, false
	}
	actor := tenant.Operator(t.ID, op.ID, op.Name, tenant.Grant{ID: g.ID, Objects: g.Scope.Objects, Write: g.Scope.Write}, op.IP, op.UserAgent, op.RequestID)
	return grantedRead{tid: t.ID, slug: t.Slug, name: t.Name, object: object, grant: g, actor: actor, op: op}, true
}

// schema returns the object's metadata for labels, or a bare object
// when none is wired or it cannot be read (the page then shows API names).
func (c *Console) schema(r *http.Request, gr grantedRead) records.Object {
	if c.d.Schema == nil {
		return records.Object{Name: gr.object}
	}
	obj, err := c.d.Schema.Object(r.Context(), gr.tid, gr.object)
	if err != nil {
		return records.Object{Name: gr.object}
	}
	return obj
}

// GrantNote is the banner on every page read under a grant.
type GrantNote struct {
	GrantID, Until, Tenant string
	GrantHref              string
}

// RecordsPage is one page of an object's records under a grant.
type RecordsPage struct {
	Shell
	Grant       GrantNote
	ObjectLabel string
	Columns     []string
	Rows        []RecordRow
	NextHref    string
	FirstHref   string
}

// RecordRow is one listed record.
type RecordRow struct {
	ID, Href   string
	Name       string
	NameMasked bool
	Cells      []Cell
	Updated    string
}

// Cell is one shown value.
type Cell struct {
	Label  string
	Text   string
	Masked bool
	Empty  bool
}

func (c *Console) grantNote(gr grantedRead) GrantNote {
	return GrantNote{GrantID: gr.grant.ID, Until: formatTimePtr(gr.grant.ExpiresAt), Tenant: gr.name,
		GrantHref: Prefix + "/requests/" + url.PathEscape(gr.grant.ID)}
}

// fieldOrder returns the fields to show: the schema's order when known,
// else the record's field names sorted; the name field is shown apart.
func fieldOrder(obj records.Object, recs ...records.Record) []string {
	var names []string
	if len(obj.Fields) > 0 {
		fs := slices.Clone(obj.Fields)
		sort.SliceStable(fs, func(a, b int) bool { return fs[a].Position < fs[b].Position })
		for _, f := range fs {
			if f.Name != obj.NameField {
				names = append(names, f.Name)
			}
		}
		return names
	}
	seen := map[string]bool{}
	for _, rec := range recs {
		for k := range rec.Fields {
			if !seen[k] && k != "name" {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	return names
}

func fieldLabel(l Lang, obj records.Object, name string) string {
	if f, ok := obj.Field(name); ok {
		if l == LangZH && f.LabelZH != "" {
			return f.LabelZH
		}
		if f.Label != "" {
			return f.Label
		}
	}
	return name
}

// cell shows one value exactly as the records service returned it for
// the operator: a masked value is shown as the masked text it already is.
func cell(l Lang, rec records.Record, label, name string) Cell {
	v, ok := rec.Fields[name]
	out := Cell{Label: label, Masked: slices.Contains(rec.Masked, name)}
	switch x := v.(type) {
	case nil:
		out.Empty = !ok || v == nil
	case string:
		out.Text = x
	case float64:
		out.Text = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		out.Text = translate(l, "rec.no")
		if x {
			out.Text = translate(l, "rec.yes")
		}
	default:
		b, err := json.Marshal(x)
		if err == nil {
			out.Text = string(b)
		}
	}
	if out.Text == "" && !out.Masked {
		out.Empty = true
	}
	if out.Empty {
		out.Text = "—"
	}
	return out
}

// maxListColumns keeps the list readable; the detail page shows all.
const maxListColumns = 4

func (c *Console) recordsPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	gr, ok := c.granted(rw, r, rc, false)
	if !ok {
		return
	}
	ctx := r.Context()
	cursor := r.URL.Query().Get("cursor")
	items, next, err := c.d.Records.List(ctx, gr.actor, gr.object, records.ListQuery{Limit: 50, Cursor: cursor})
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	ids := make([]string, len(items))
	for i, rec := range items {
		ids[i] = rec.ID
	}
	// What the operator sees goes to the tenant's trail before it leaves.
	if err := c.d.Support.RecordUse(ctx, gr.op, gr.tid, gr.grant, "list", gr.object, ids); err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	obj := c.schema(r, gr)
	label := objectLabel(rc.lang, gr.object, obj.Label, obj.LabelZH)
	p := &RecordsPage{Shell: c.shell(rw, r, rc, rc.lang, label, ""), Grant: c.grantNote(gr), ObjectLabel: label}
	cols := fieldOrder(obj, items...)
	if len(cols) > maxListColumns {
		cols = cols[:maxListColumns]
	}
	for _, name := range cols {
		p.Columns = append(p.Columns, fieldLabel(rc.lang, obj, name))
	}
	base := recordsHref(gr.slug, gr.object)
	for _, rec := range items {
		row := RecordRow{ID: rec.ID, Href: base + "/" + url.PathEscape(rec.ID), Name: rec.Name, Updated: formatTime(rec.UpdatedAt),
			NameMasked: obj.NameField != "" && slices.Contains(rec.Masked, obj.NameField)}
		if row.Name == "" {
			row.Name = rec.ID
		}
		for i, name := range cols {
			row.Cells = append(row.Cells, cell(rc.lang, rec, p.Columns[i], name))
		}
		p.Rows = append(p.Rows, row)
	}
	if next != "" {
		p.NextHref = base + "?" + url.Values{"cursor": {next}}.Encode()
	}
	if cursor != "" {
		p.FirstHref = base
	}
	c.render(rw, r, http.StatusOK, "records", p)
}

// RecordPage is one record under a grant.
type RecordPage struct {
	Shell
	Grant       GrantNote
	ObjectLabel string
	ListHref    string
	ID          string
	Name        string
	NameMasked  bool
	Fields      []Cell
	Created     string
	Updated     string
	Version     int64
	// EditHref links to the edit form; set only when a grant that allows
	// changes to this object is active for the operator now.
	EditHref string
}

func (c *Console) recordPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	gr, ok := c.granted(rw, r, rc, false)
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
	obj := c.schema(r, gr)
	label := objectLabel(rc.lang, gr.object, obj.Label, obj.LabelZH)
	p := &RecordPage{Shell: c.shell(rw, r, rc, rc.lang, label, ""), Grant: c.grantNote(gr), ObjectLabel: label,
		ListHref: recordsHref(gr.slug, gr.object), ID: rec.ID, Name: rec.Name, Created: formatTime(rec.CreatedAt), Updated: formatTime(rec.UpdatedAt),
		Version: rec.Version, NameMasked: obj.NameField != "" && slices.Contains(rec.Masked, obj.NameField)}
	for _, name := range fieldOrder(obj, rec) {
		if _, present := rec.Fields[name]; !present {
			continue
		}
		p.Fields = append(p.Fields, cell(rc.lang, rec, fieldLabel(rc.lang, obj, name), name))
	}
	if c.canWrite(r, gr) {
		p.EditHref = recordHref(gr.slug, gr.object, rec.ID) + "/edit"
	}
	c.render(rw, r, http.StatusOK, "record", p)
}

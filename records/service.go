package records

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Record is one CRM record. Fields hold canonical values: string, float64
// or bool.
type Record struct {
	ID        string
	Object    string
	Version   int64
	OwnerID   string
	Name      string
	Fields    map[string]any
	CreatedAt time.Time
	UpdatedAt time.Time
	CreatedBy string
	UpdatedBy string
	// Masked lists the fields whose values are shown masked to the actor
	// the record was read for.
	Masked []string
}

// ValueKind is how a field's values compare and sort in the database.
type ValueKind int

const (
	KindText ValueKind = iota
	KindNumber
	KindBool
)

func kindOf(t FieldType) ValueKind {
	switch t {
	case TypeNumber, TypeCurrency:
		return KindNumber
	case TypeBoolean:
		return KindBool
	}
	return KindText
}

// System columns lists may sort by.
const (
	SortCreatedAt = "created_at"
	SortUpdatedAt = "updated_at"
	SortName      = "name"
	// SortID walks records by their time-ordered IDs (the primary key):
	// the full walk backups and mirrors take, one index range per page.
	SortID = "id"
)

// FieldFilter is one equality filter on a field: on its plain JSON value
// when Value is set, on its blind index when Index is set, on either while
// a field is being converted.
type FieldFilter struct {
	Field string
	Kind  ValueKind
	Value any
	Index []string
}

// ListSpec is a validated list request as the store executes it.
type ListSpec struct {
	Object string
	// OwnerID restricts the list to one owner ("" = all owners).
	OwnerID string
	// SortColumn is a system column; when empty SortField names a JSON field.
	SortColumn string
	SortField  string
	SortKind   ValueKind
	Desc       bool
	// After continues after this sort value and ID (keyset pagination).
	After *Cursor
	Q     string
	// QIndex makes Q also match blind indexes of searchable fields.
	QIndex  []IndexMatch
	Filters []FieldFilter
	Limit   int
}

// Cursor is the position after which a list page starts.
type Cursor struct {
	Sort  string `json:"s"`
	Value any    `json:"v"`
	ID    string `json:"id"`
}

// Listed is a record with the value it was sorted by.
type Listed struct {
	Record    Record
	SortValue any
}

// Store is what the records service needs from storage.
type Store interface {
	WriteTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error
	ReadTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error
	Objects(ctx context.Context, tenantID tenant.ID) ([]Object, error)
	Object(ctx context.Context, tenantID tenant.ID, name string) (Object, error)
	InsertObject(ctx context.Context, tenantID tenant.ID, o Object) error
	InsertField(ctx context.Context, tenantID tenant.ID, object string, f Field) error
	UpdateFieldProtection(ctx context.Context, tenantID tenant.ID, object string, f Field) error
	ReplaceRecordIndex(ctx context.Context, tenantID tenant.ID, object, id string, entries []IndexEntry) error
	InsertRecordIndex(ctx context.Context, tenantID tenant.ID, object, id string, entries []IndexEntry) error
	RewriteRecordFields(ctx context.Context, tenantID tenant.ID, object, id string, version int64, fields map[string]any) (bool, error)
	RecordsAfter(ctx context.Context, tenantID tenant.ID, object, afterID string, limit int) ([]Record, error)
	CountRecords(ctx context.Context, tenantID tenant.ID, object string) (int64, error)
	CountIndexTerm(ctx context.Context, tenantID tenant.ID, term uint32) (int64, error)
	InsertRecord(ctx context.Context, tenantID tenant.ID, r Record) error
	// UpdateRecord stores r if the stored version is r.Version-1 and
	// answers conflict otherwise.
	UpdateRecord(ctx context.Context, tenantID tenant.ID, r Record) error
	DeleteRecord(ctx context.Context, tenantID tenant.ID, object, id string, version int64) error
	Record(ctx context.Context, tenantID tenant.ID, object, id string) (Record, error)
	ListRecords(ctx context.Context, tenantID tenant.ID, spec ListSpec) ([]Listed, error)
	// IsActiveUser reports whether id is an active user of the tenant, so
	// records are never given to someone who cannot sign in.
	IsActiveUser(ctx context.Context, tenantID tenant.ID, id string) (bool, error)
	AppendAudit(ctx context.Context, e audit.Event) error
	QueryAudit(ctx context.Context, tenantID tenant.ID, f audit.Filter) ([]audit.Event, error)
}

// Service manages objects, fields and records.
type Service struct {
	store Store
	keys  Keys
	jobs  JobQueue
	now   func() time.Time
}

// JobQueue queues the background conversion of a field's stored values
// after its protection changed, inside the caller's transaction.
type JobQueue interface {
	EnqueueFieldConversion(ctx context.Context, tid tenant.ID, object, field, createdBy string) (jobID string, err error)
}

// NewService returns the records service. keys seals encrypted fields;
// without it (nil) records with encrypted values cannot be written or read.
func NewService(store Store, keys Keys, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, keys: keys, now: now}
}

// SetJobQueue sets where field conversions are queued.
func (s *Service) SetJobQueue(q JobQueue) { s.jobs = q }

// SeedStandardObjects creates the standard objects for a new tenant inside
// the caller's transaction.
func (s *Service) SeedStandardObjects(ctx context.Context, tid tenant.ID) error {
	for _, o := range StandardObjects() {
		if err := s.store.InsertObject(ctx, tid, o); err != nil {
			return fmt.Errorf("seed object %s: %w", o.Name, err)
		}
	}
	return nil
}

// Objects lists the tenant's objects the actor may read.
func (s *Service) Objects(ctx context.Context, actor tenant.Actor) ([]Object, error) {
	objs, err := s.store.Objects(ctx, actor.TenantID)
	if err != nil {
		return nil, err
	}
	out := objs[:0]
	for _, o := range objs {
		if access.ForObject(actor.Role, o.Name).Allows(access.Read) {
			out = append(out, o)
		}
	}
	return out, nil
}

// Object returns one object's metadata.
func (s *Service) Object(ctx context.Context, actor tenant.Actor, name string) (Object, error) {
	if !access.ForObject(actor.Role, name).Allows(access.Read) {
		return Object{}, apperr.NotFound("object")
	}
	return s.store.Object(ctx, actor.TenantID, name)
}

// AddField adds a custom field to an object (admins only).
func (s *Service) AddField(ctx context.Context, actor tenant.Actor, object string, fl Field) (Field, error) {
	if !access.CanManageSchema(actor) {
		return Field{}, apperr.Forbidden()
	}
	now := s.now().UTC()
	if !strings.HasSuffix(fl.Name, "__c") {
		fl.Name += "__c"
	}
	fl.Custom = true
	fl.Label = strings.TrimSpace(fl.Label)
	fl.LabelZH = strings.TrimSpace(fl.LabelZH)
	bad := map[string]string{}
	if !ValidCustomFieldName(fl.Name) {
		bad["name"] = "lower-case letters, digits and underscores, starting with a letter, at most 40 characters"
	}
	if fl.Label == "" || utf8.RuneCountInString(fl.Label) > 80 {
		bad["label"] = "required, at most 80 characters"
	} else if strings.ContainsFunc(fl.Label+fl.LabelZH, unicode.IsControl) || !utf8.ValidString(fl.Label+fl.LabelZH) {
		bad["label"] = "must not contain control characters"
	}
	if utf8.RuneCountInString(fl.LabelZH) > 80 {
		bad["label_zh"] = "at most 80 characters"
	}
	if !ValidType(fl.Type) {
		bad["type"] = "must be one of the supported field types"
	}
	if fl.Type == TypePicklist {
		if msg := checkOptions(fl.Options); msg != "" {
			bad["options"] = msg
		}
	} else if len(fl.Options) > 0 {
		bad["options"] = "only picklist fields have options"
	}
	if fl.MaxLength < 0 || fl.MaxLength > textareaMax {
		bad["max_length"] = fmt.Sprintf("must be between 0 and %d", textareaMax)
	}
	if fl.Type != TypeLookup && fl.LookupObject != "" {
		bad["lookup_object"] = "only lookup fields reference an object"
	}
	var out Field
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		obj, err := s.store.Object(ctx, actor.TenantID, object)
		if err != nil {
			return err
		}
		if fl.Type == TypeLookup {
			if _, err := s.store.Object(ctx, actor.TenantID, fl.LookupObject); err != nil {
				bad["lookup_object"] = "must name an existing object"
			}
		}
		fl.CryptoPending = false
		for k, v := range checkProtection(obj, fl, Protection{Encrypted: fl.Encrypted, Searchable: fl.Searchable, Policy: fl.Policy}) {
			bad[k] = v
		}
		fl.Policy = normalizePolicy(fl.Policy)
		if len(bad) > 0 {
			return apperr.InvalidFields(bad)
		}
		if _, exists := obj.Field(fl.Name); exists {
			return apperr.Conflict("the object already has a field named %s", fl.Name)
		}
		fl.Position = len(obj.Fields)
		if err := s.store.InsertField(ctx, actor.TenantID, object, fl); err != nil {
			return err
		}
		ev := audit.New(actor, now, audit.ActionFieldCreated, "field", object+"."+fl.Name, fl.Label)
		ev.Changes = audit.Diff(nil, protectionAudit(fl))
		ev.Changes["type"] = audit.Change{After: string(fl.Type)}
		ev.Changes["required"] = audit.Change{After: fl.Required}
		out = fl
		return s.store.AppendAudit(ctx, ev)
	})
	return out, err
}

func checkOptions(opts []string) string {
	if len(opts) == 0 || len(opts) > 200 {
		return "a picklist needs between 1 and 200 options"
	}
	seen := map[string]bool{}
	for _, o := range opts {
		if strings.TrimSpace(o) != o || o == "" || utf8.RuneCountInString(o) > 100 || !utf8.ValidString(o) || strings.ContainsFunc(o, unicode.IsControl) {
			return "options must be non-empty, without surrounding spaces, at most 100 characters"
		}
		if seen[o] {
			return "options must be unique"
		}
		seen[o] = true
	}
	return ""
}

// Values is client input keyed by field name: raw JSON from the API.
type Values map[string]json.RawMessage

// decodeInput validates input against obj for actor: unknown fields,
// bad values and fields the actor may not set are all reported together.
func decodeInput(actor tenant.Actor, obj Object, in Values) (map[string]any, error) {
	bad := map[string]string{}
	out := make(map[string]any, len(in))
	for name, raw := range in {
		fl, ok := obj.Field(name)
		if !ok {
			bad[truncate(name, 60)] = "unknown field"
			continue
		}
		// An operator never sets an encrypted field, whatever its policy:
		// the value would be sealed beside envelopes the operator's copy of
		// the record cannot open (see Update).
		if !access.CanSetField(actor, fl.Policy) || actor.Kind == tenant.ActorOperator && (fl.Encrypted || fl.CryptoPending) {
			bad[name] = "you may not change this field"
			continue
		}
		v, msg := decodeValue(fl, raw)
		if msg != "" {
			bad[name] = msg
			continue
		}
		out[name] = v
	}
	if len(bad) > 0 {
		return out, apperr.InvalidFields(bad)
	}
	return out, nil
}

// joinInvalid merges the per-field details of two validation errors; the
// first one's reason wins for a field both name.
func joinInvalid(first, second error) error {
	if first == nil {
		return second
	}
	if second == nil {
		return first
	}
	a, _ := apperr.As(first)
	b, _ := apperr.As(second)
	fa, okA := a.Details["fields"].(map[string]string)
	fb, okB := b.Details["fields"].(map[string]string)
	if !okA || !okB {
		return first
	}
	all := map[string]string{}
	for k, v := range fb {
		all[k] = v
	}
	for k, v := range fa {
		all[k] = v
	}
	return apperr.InvalidFields(all)
}

// merge applies changes to fields (nil deletes) and checks required fields.
func merge(obj Object, fields, changes map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(fields)+len(changes))
	for k, v := range fields {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	bad := map[string]string{}
	for _, fl := range obj.Fields {
		if _, ok := out[fl.Name]; fl.Required && !ok {
			bad[fl.Name] = "is required"
		}
	}
	if len(bad) > 0 {
		return nil, apperr.InvalidFields(bad)
	}
	return out, nil
}

// checkLookups verifies every lookup value names a record of the right
// object in the same tenant.
func (s *Service) checkLookups(ctx context.Context, tid tenant.ID, obj Object, changes map[string]any) error {
	bad := map[string]string{}
	for name, v := range changes {
		fl, _ := obj.Field(name)
		id, ok := v.(string)
		if fl.Type != TypeLookup || !ok {
			continue
		}
		if _, err := s.store.Record(ctx, tid, fl.LookupObject, id); err != nil {
			if apperr.Is(err, apperr.KindNotFound) {
				bad[name] = "no such " + fl.LookupObject
				continue
			}
			return err
		}
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad)
	}
	return nil
}

func recordName(obj Object, fields map[string]any) string {
	if v, ok := fields[obj.NameField].(string); ok {
		return v
	}
	return ""
}

// Create validates and stores a new record owned by ownerID (or the
// actor when empty; only managers and admins may assign another owner).
// The record comes back as the actor may see it.
func (s *Service) Create(ctx context.Context, actor tenant.Actor, object string, ownerID string, in Values) (Record, error) {
	if !access.CanRecord(actor, object, access.Create, "") {
		return Record{}, forbiddenOrMissing(actor, object)
	}
	if ownerID == "" {
		ownerID = actor.UserID
	}
	if ownerID != actor.UserID && !access.CanAssignOwner(actor) {
		return Record{}, apperr.Forbidden()
	}
	now := s.now().UTC()
	var out Record
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if ownerID != actor.UserID {
			if err := s.checkOwner(ctx, actor.TenantID, ownerID); err != nil {
				return err
			}
		}
		obj, err := s.store.Object(ctx, actor.TenantID, object)
		if err != nil {
			return err
		}
		changes, decErr := decodeInput(actor, obj, in)
		fields, err := merge(obj, nil, changes)
		if err := joinInvalid(decErr, err); err != nil {
			return err
		}
		if err := s.checkLookups(ctx, actor.TenantID, obj, changes); err != nil {
			return err
		}
		r := Record{
			ID: tenant.NewID(), Object: object, Version: 1, OwnerID: ownerID, Name: recordName(obj, fields), Fields: fields,
			CreatedAt: now, UpdatedAt: now, CreatedBy: actor.UserID, UpdatedBy: actor.UserID,
		}
		stored, index, err := s.sealFields(ctx, actor.TenantID, obj, r.ID, fields)
		if err != nil {
			return err
		}
		sr := r
		sr.Fields = stored
		if err := s.store.InsertRecord(ctx, actor.TenantID, sr); err != nil {
			return err
		}
		if err := s.store.InsertRecordIndex(ctx, actor.TenantID, object, r.ID, index); err != nil {
			return err
		}
		ev := audit.New(actor, now, audit.ActionRecordCreated, object, r.ID, r.Name)
		ev.Changes = storedAuditChanges(obj, nil, auditFields(r), nil, auditFields(sr))
		out = present(actor, obj, r)
		return s.store.AppendAudit(ctx, ev)
	})
	return out, err
}

func (s *Service) checkOwner(ctx context.Context, tid tenant.ID, ownerID string) error {
	bad := apperr.InvalidFields(map[string]string{"owner_id": "must be an active user of this tenant"})
	if !tenant.ValidID(ownerID) {
		return bad
	}
	ok, err := s.store.IsActiveUser(ctx, tid, ownerID)
	if err != nil {
		return err
	}
	if !ok {
		return bad
	}
	return nil
}

func auditFields(r Record) map[string]any {
	m := make(map[string]any, len(r.Fields)+1)
	for k, v := range r.Fields {
		m[k] = v
	}
	m["owner_id"] = r.OwnerID
	return m
}

// forbiddenOrMissing answers not_found for objects the role may not read
// at all (so their existence is not revealed) and forbidden otherwise.
func forbiddenOrMissing(actor tenant.Actor, object string) error {
	if !access.ForObject(actor.Role, object).Allows(access.Read) {
		return apperr.NotFound("object")
	}
	return apperr.Forbidden()
}

// Get returns one record the actor may read, as the actor may see it;
// records out of reach answer not_found exactly like missing ones.
func (s *Service) Get(ctx context.Context, actor tenant.Actor, object, id string) (Record, error) {
	var out Record
	err := s.store.ReadTx(ctx, actor.TenantID, func(ctx context.Context) error {
		obj, _, plain, err := s.load(ctx, actor, object, id)
		if err != nil {
			return err
		}
		out = present(actor, obj, plain)
		return nil
	})
	return out, err
}

// load reads a record the actor may read with its object, in stored form
// and opened.
func (s *Service) load(ctx context.Context, actor tenant.Actor, object, id string) (Object, Record, Record, error) {
	if !tenant.ValidID(id) {
		return Object{}, Record{}, Record{}, apperr.NotFound("record")
	}
	stored, err := s.store.Record(ctx, actor.TenantID, object, id)
	if err != nil {
		return Object{}, Record{}, Record{}, err
	}
	if !access.CanRecord(actor, object, access.Read, stored.OwnerID) {
		return Object{}, Record{}, Record{}, apperr.NotFound("record")
	}
	obj, err := s.store.Object(ctx, actor.TenantID, object)
	if err != nil {
		return Object{}, Record{}, Record{}, err
	}
	plain, err := s.openFor(ctx, actor, stored)
	if err != nil {
		return Object{}, Record{}, Record{}, err
	}
	return obj, stored, plain, nil
}

// Update applies changes if version is the record's current version.
func (s *Service) Update(ctx context.Context, actor tenant.Actor, object, id string, version int64, ownerID string, in Values) (Record, error) {
	if version <= 0 {
		return Record{}, apperr.InvalidFields(map[string]string{"version": "required: the version you last read"})
	}
	now := s.now().UTC()
	var out Record
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		obj, stored, cur, err := s.load(ctx, actor, object, id)
		if err != nil {
			return err
		}
		if !access.CanRecord(actor, object, access.Edit, cur.OwnerID) {
			return apperr.Forbidden()
		}
		if cur.Version != version {
			return apperr.Conflict("the record was changed by someone else (version %d, you sent %d); reload and try again", cur.Version, version).
				WithDetail("current_version", cur.Version)
		}
		changes, decErr := decodeInput(actor, obj, in)
		fields, err := merge(obj, cur.Fields, changes)
		if err := joinInvalid(decErr, err); err != nil {
			return err
		}
		if err := s.checkLookups(ctx, actor.TenantID, obj, changes); err != nil {
			return err
		}
		next := cur
		if ownerID != "" && ownerID != cur.OwnerID {
			if !access.CanAssignOwner(actor) {
				return apperr.Forbidden()
			}
			if err := s.checkOwner(ctx, actor.TenantID, ownerID); err != nil {
				return err
			}
			next.OwnerID = ownerID
		}
		next.Fields, next.Name, next.Version = fields, recordName(obj, fields), cur.Version+1
		if actor.Kind == tenant.ActorOperator && next.Name == "" {
			// The operator's copy holds a sealed name, never its clear text.
			next.Name = cur.Name
		}
		next.UpdatedAt, next.UpdatedBy = now, actor.UserID
		diff := audit.Diff(auditFields(cur), auditFields(next))
		// A value written by someone who cannot read the field counts as a
		// change even when it equals the stored one; otherwise whether
		// the version moved would tell them if their guess was right.
		blind := blindWrites(actor, obj, changes)
		if len(diff) == 0 && len(blind) == 0 {
			out = present(actor, obj, cur)
			return nil
		}
		var storedFields map[string]any
		var index []IndexEntry
		if actor.Kind == tenant.ActorOperator {
			// An operator's record was never opened: its encrypted values
			// are still the stored envelopes, which sealing again would
			// bury. decodeInput lets an operator set plain fields only, so
			// the stored record with those fields changed is the new one,
			// and the blind indexes stay as they are.
			storedFields = withChanges(stored.Fields, fields, changes)
		} else {
			storedFields, index, err = s.sealFields(ctx, actor.TenantID, obj, id, fields)
			if err != nil {
				return err
			}
		}
		sn := next
		sn.Fields = storedFields
		if err := s.store.UpdateRecord(ctx, actor.TenantID, sn); err != nil {
			return err
		}
		if actor.Kind != tenant.ActorOperator {
			if err := s.store.ReplaceRecordIndex(ctx, actor.TenantID, object, id, index); err != nil {
				return err
			}
		}
		ev := audit.New(actor, now, audit.ActionRecordUpdated, object, next.ID, next.Name)
		ev.Changes = storedAuditChanges(obj, auditFields(cur), auditFields(next), auditFields(stored), auditFields(sn))
		for _, name := range blind {
			if _, changed := ev.Changes[name]; !changed {
				ev.Changes[name] = audit.Change{Before: stored.Fields[name], After: storedFields[name]}
			}
		}
		out = present(actor, obj, next)
		return s.store.AppendAudit(ctx, ev)
	})
	return out, err
}

// withChanges returns the stored fields with the changed ones taken from
// merged (absent there: removed).
func withChanges(stored, merged, changes map[string]any) map[string]any {
	out := maps.Clone(stored)
	if out == nil {
		out = map[string]any{}
	}
	for name := range changes {
		if v, ok := merged[name]; ok {
			out[name] = v
		} else {
			delete(out, name)
		}
	}
	return out
}

// blindWrites lists the changed fields the actor cannot read back.
func blindWrites(actor tenant.Actor, obj Object, changes map[string]any) []string {
	var out []string
	for name := range changes {
		fl, _ := obj.Field(name)
		if !access.CanReadField(access.FieldAccess(actor, fl.Policy)) {
			out = append(out, name)
		}
	}
	return out
}

// Delete removes a record; version, when non-zero, must be current.
func (s *Service) Delete(ctx context.Context, actor tenant.Actor, object, id string, version int64) error {
	now := s.now().UTC()
	return s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		obj, stored, cur, err := s.load(ctx, actor, object, id)
		if err != nil {
			return err
		}
		if !access.CanRecord(actor, object, access.Delete, cur.OwnerID) {
			return apperr.Forbidden()
		}
		if version != 0 && version != cur.Version {
			return apperr.Conflict("the record was changed by someone else (version %d, you sent %d)", cur.Version, version).
				WithDetail("current_version", cur.Version)
		}
		if err := s.store.DeleteRecord(ctx, actor.TenantID, object, id, cur.Version); err != nil {
			return err
		}
		ev := audit.New(actor, now, audit.ActionRecordDeleted, object, cur.ID, cur.Name)
		// The before values keep what was deleted recoverable from the
		// trail, sealed as they were stored.
		ev.Changes = storedAuditChanges(obj, auditFields(cur), nil, auditFields(stored), nil)
		return s.store.AppendAudit(ctx, ev)
	})
}

// History returns the audit events of one record, newest first.
func (s *Service) History(ctx context.Context, actor tenant.Actor, object, id string, beforeSeq int64, limit int) ([]audit.Event, int64, error) {
	if _, err := s.Get(ctx, actor, object, id); err != nil {
		return nil, 0, err
	}
	events, next, err := audit.NewService(s.store).Trail(ctx, actor.TenantID, object, id, beforeSeq, limit)
	if err != nil {
		return nil, 0, err
	}
	events, err = s.PresentEvents(ctx, actor, events)
	return events, next, err
}

// ListQuery is a list request as a client states it.
type ListQuery struct {
	Limit   int
	Cursor  string
	Sort    string // field or system column, "-" prefix for descending
	Q       string
	Filters map[string]string
}

// List returns one page of records the actor may read and the cursor of
// the next page ("" on the last one).
func (s *Service) List(ctx context.Context, actor tenant.Actor, object string, q ListQuery) ([]Record, string, error) {
	owner, ok := access.OwnerFilter(actor, object)
	if !ok {
		return nil, "", apperr.NotFound("object")
	}
	var rows []Listed
	var out []Record
	var want int
	var more bool
	// One read transaction: the metadata and the page come from the same snapshot.
	err := s.store.ReadTx(ctx, actor.TenantID, func(ctx context.Context) error {
		obj, err := s.store.Object(ctx, actor.TenantID, object)
		if err != nil {
			return err
		}
		spec, err := buildSpec(actor, obj, q)
		if err != nil {
			return err
		}
		if err := s.indexSpec(ctx, actor, obj, q, &spec); err != nil {
			return err
		}
		if owner != "" {
			if spec.OwnerID != "" && spec.OwnerID != owner {
				return nil // asking for another owner's records: none visible
			}
			spec.OwnerID = owner
		}
		want = spec.Limit
		spec.Limit = want + 1
		if rows, err = s.store.ListRecords(ctx, actor.TenantID, spec); err != nil {
			return err
		}
		if more = len(rows) > want; more {
			rows = rows[:want]
		}
		out = make([]Record, len(rows))
		for i, r := range rows {
			plain, err := s.openFor(ctx, actor, r.Record)
			if err != nil {
				return err
			}
			out[i] = present(actor, obj, plain)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		last := rows[want-1]
		next = encodeCursor(Cursor{Sort: q.Sort, Value: last.SortValue, ID: last.Record.ID})
	}
	return out, next, nil
}

// indexSpec turns filters on searchable encrypted fields into blind-index
// matches and adds the blind indexes of the search text for quick search.
func (s *Service) indexSpec(ctx context.Context, actor tenant.Actor, obj Object, q ListQuery, spec *ListSpec) error {
	for i, f := range spec.Filters {
		fl, _ := obj.Field(f.Field)
		if !fl.Encrypted && !fl.CryptoPending {
			continue
		}
		idx, err := s.searchIndexes(ctx, actor.TenantID, obj.Name, fl, f.Value)
		if err != nil {
			return err
		}
		spec.Filters[i].Index = idx
		if !fl.CryptoPending {
			// Sealed values never equal a plain one; only a field being
			// converted still holds plain values to compare with.
			spec.Filters[i].Value = nil
		}
		if spec.Filters[i].Value == nil && len(idx) == 0 {
			spec.Filters[i].Index = []string{"-"} // no index value: match nothing
		}
	}
	if spec.Q == "" {
		return nil
	}
	for _, fl := range obj.Fields {
		if !fl.Encrypted || !fl.Searchable || !access.CanReadField(access.FieldAccess(actor, fl.Policy)) {
			continue
		}
		idx, err := s.searchIndexes(ctx, actor.TenantID, obj.Name, fl, spec.Q)
		if err != nil {
			return err
		}
		if len(idx) > 0 {
			spec.QIndex = append(spec.QIndex, IndexMatch{Field: fl.Name, Values: idx})
		}
	}
	return nil
}

const maxQueryLength = 100

func buildSpec(actor tenant.Actor, obj Object, q ListQuery) (ListSpec, error) {
	spec := ListSpec{Object: obj.Name, Limit: q.Limit}
	if spec.Limit == 0 {
		spec.Limit = 50
	}
	if spec.Limit < 1 || spec.Limit > 200 {
		return ListSpec{}, apperr.Invalid("limit must be between 1 and 200")
	}
	sort := q.Sort
	if sort == "" {
		sort = "-" + SortCreatedAt
	}
	name, desc := strings.CutPrefix(sort, "-")
	spec.Desc = desc
	switch name {
	case SortName:
		// The order of names one sees masked would spell them out.
		if nf, ok := obj.Field(obj.NameField); ok && !access.CanReadField(access.FieldAccess(actor, nf.Policy)) {
			return ListSpec{}, apperr.Invalid("cannot sort by name: names of this object are masked for you")
		}
		spec.SortColumn = name
	case SortCreatedAt, SortUpdatedAt, SortID:
		spec.SortColumn = name
	default:
		fl, ok := obj.Field(name)
		if !ok || !fl.Type.Sortable() {
			return ListSpec{}, apperr.Invalid("cannot sort by %q", truncate(name, 60))
		}
		// Sealed values have no order, and the order of values one may not
		// read would leak them (binary search by sorting).
		if fl.Encrypted || fl.CryptoPending {
			return ListSpec{}, apperr.Invalid("cannot sort by %q: its values are encrypted", name)
		}
		if !access.CanReadField(access.FieldAccess(actor, fl.Policy)) {
			return ListSpec{}, apperr.Invalid("cannot sort by %q: you may not read it", name)
		}
		spec.SortField, spec.SortKind = fl.Name, kindOf(fl.Type)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil || c.Sort != q.Sort || !tenant.ValidID(c.ID) {
			return ListSpec{}, apperr.Invalid("invalid cursor (it belongs to another query or was altered)")
		}
		if err := normalizeCursorValue(&c, spec); err != nil {
			return ListSpec{}, err
		}
		spec.After = &c
	}
	spec.Q = strings.TrimSpace(q.Q)
	if utf8.RuneCountInString(spec.Q) > maxQueryLength {
		return ListSpec{}, apperr.Invalid("search text must be at most %d characters", maxQueryLength)
	}
	if nf, ok := obj.Field(obj.NameField); ok && spec.Q != "" && !access.CanReadField(access.FieldAccess(actor, nf.Policy)) {
		// Substring search on a masked name would spell the name out one
		// guess at a time.
		return ListSpec{}, apperr.Invalid("search is not available: names of this object are masked for you")
	}
	names := make([]string, 0, len(q.Filters))
	for k := range q.Filters {
		names = append(names, k)
	}
	slices.Sort(names)
	bad := map[string]string{}
	for _, name := range names {
		raw := q.Filters[name]
		if name == "owner_id" {
			if !tenant.ValidID(raw) {
				bad[name] = "must be a user id"
			}
			spec.OwnerID = raw
			continue
		}
		fl, ok := obj.Field(name)
		if !ok {
			bad[truncate(name, 60)] = "unknown field"
			continue
		}
		if fl.Type == TypeTextarea {
			bad[name] = "long text fields cannot be filtered"
			continue
		}
		if !access.CanReadField(access.FieldAccess(actor, fl.Policy)) {
			// Filtering by a value one may not read would confirm guesses.
			bad[name] = "you may not filter by this field"
			continue
		}
		if (fl.Encrypted || fl.CryptoPending) && !fl.Searchable {
			bad[name] = "this field is encrypted and not searchable"
			continue
		}
		v, msg := ParseFormValue(fl, raw)
		if msg != "" || v == nil {
			if msg == "" {
				msg = "a value is required"
			}
			bad[name] = msg
			continue
		}
		if b, ok := v.(bool); ok {
			v = boolInt(b)
		}
		spec.Filters = append(spec.Filters, FieldFilter{Field: name, Kind: kindOf(fl.Type), Value: v})
	}
	if len(bad) > 0 {
		return ListSpec{}, apperr.InvalidFields(bad)
	}
	return spec, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// normalizeCursorValue restores the Go type the store compares with,
// since JSON turns every number into float64.
func normalizeCursorValue(c *Cursor, spec ListSpec) error {
	bad := apperr.Invalid("invalid cursor")
	switch {
	case spec.SortColumn == SortCreatedAt || spec.SortColumn == SortUpdatedAt:
		f, ok := c.Value.(float64)
		if !ok {
			return bad
		}
		c.Value = int64(f)
	case spec.SortColumn == SortName || spec.SortColumn == SortID || spec.SortKind == KindText:
		if _, ok := c.Value.(string); !ok {
			return bad
		}
	case spec.SortKind == KindNumber:
		if _, ok := c.Value.(float64); !ok {
			return bad
		}
	case spec.SortKind == KindBool:
		f, ok := c.Value.(float64)
		if !ok {
			return bad
		}
		c.Value = int64(f)
	}
	return nil
}

func encodeCursor(c Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (Cursor, error) {
	var c Cursor
	if len(s) > 2048 {
		return c, fmt.Errorf("cursor too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, err
	}
	if dec.More() {
		return c, fmt.Errorf("trailing data in cursor")
	}
	return c, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Names returns the display names of the given records of object that
// the actor may read; others are left out.
func (s *Service) Names(ctx context.Context, actor tenant.Actor, object string, ids []string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		if _, done := out[id]; done || !tenant.ValidID(id) {
			continue
		}
		r, err := s.Get(ctx, actor, object, id)
		if err == nil {
			out[id] = r.Name
		}
	}
	return out
}

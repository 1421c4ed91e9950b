package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/tenant"
)

// Keys is what records needs from the keyring: data keys by term, the
// terms values may be sealed under, and derived blind-index keys.
type Keys interface {
	fieldcrypt.KeySource
	ActiveTerms(ctx context.Context, tid tenant.ID) ([]uint32, error)
	DeriveKey(ctx context.Context, tid tenant.ID, term uint32, purpose string) ([]byte, error)
}

// sealedKey marks an encrypted value in the stored JSON: {"$sealed": "hv1:…"}.
// Plain values are strings, numbers and booleans, never objects, so the
// two forms cannot be confused while a field is being converted.
const sealedKey = "$sealed"

// blindIndexPurpose names the derived key blind indexes are made with.
const blindIndexPurpose = "blind-index"

// IndexEntry is one blind index of a record: the keyed hash of a
// searchable encrypted field's normalised value under a key term.
type IndexEntry struct {
	Field string
	Term  uint32
	Value string
}

// IndexMatch makes quick search also find records whose blind index of
// Field is one of Values.
type IndexMatch struct {
	Field  string
	Values []string
}

// sealedEnvelope returns the envelope of a stored value, if it is sealed.
func sealedEnvelope(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	env, ok := m[sealedKey].(string)
	return env, ok
}

func sealedValue(env string) map[string]any { return map[string]any{sealedKey: env} }

func binding(tid tenant.ID, object, id, field string) fieldcrypt.Binding {
	return fieldcrypt.Binding{Tenant: tid, Object: object, RecordID: id, Field: field}
}

// ErrKeysGone is in the chain of the error a read of an encrypted value
// answers when the tenant's data keys were destroyed (crypto-shredding).
var ErrKeysGone = errors.New("records: the tenant's data keys are gone")

// errNoKeys: the service was built without a keyring and met a field
// that needs one.
var errNoKeys = errors.New("records: encrypted field without a keyring")

// sealFields returns the stored form of plaintext field values: values of
// encrypted fields sealed (bound to tenant, object, record and field), the
// rest unchanged, and the blind indexes of searchable encrypted values.
func (s *Service) sealFields(ctx context.Context, tid tenant.ID, obj Object, id string, plain map[string]any) (map[string]any, []IndexEntry, error) {
	stored := make(map[string]any, len(plain))
	var entries []IndexEntry
	var indexTerm uint32
	var indexKey []byte
	defer clear(indexKey)
	for name, v := range plain {
		fl, ok := obj.Field(name)
		if !ok || !fl.Encrypted || !fl.Type.Encryptable() {
			stored[name] = v
			continue
		}
		if s.keys == nil {
			return nil, nil, apperr.Internal(errNoKeys)
		}
		pt, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("encode %s.%s: %w", obj.Name, name, err)
		}
		env, err := fieldcrypt.Encrypt(ctx, s.keys, binding(tid, obj.Name, id, name), pt)
		if err != nil {
			return nil, nil, fmt.Errorf("seal %s.%s: %w", obj.Name, name, err)
		}
		stored[name] = sealedValue(env)
		if !fl.Searchable {
			continue
		}
		if indexKey == nil {
			if indexTerm, indexKey, err = s.currentIndexKey(ctx, tid); err != nil {
				return nil, nil, err
			}
		}
		idx, err := blindIndex(indexKey, tid, obj.Name, fl, v)
		if errors.Is(err, fieldcrypt.ErrEmptyValue) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("blind index %s.%s: %w", obj.Name, name, err)
		}
		entries = append(entries, IndexEntry{Field: name, Term: indexTerm, Value: idx})
	}
	slices.SortFunc(entries, func(a, b IndexEntry) int { return compareStrings(a.Field, b.Field) })
	return stored, entries, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Service) currentIndexKey(ctx context.Context, tid tenant.ID) (uint32, []byte, error) {
	term, dek, err := s.keys.CurrentKey(ctx, tid)
	if err != nil {
		return 0, nil, fmt.Errorf("current data key: %w", err)
	}
	clear(dek)
	key, err := s.keys.DeriveKey(ctx, tid, term, blindIndexPurpose)
	if err != nil {
		return 0, nil, fmt.Errorf("blind-index key: %w", err)
	}
	return term, key, nil
}

// indexText is the normalised text a value is indexed and searched by:
// phone numbers by digits, e-mail addresses case-folded, other text with
// width and case folded and spaces collapsed.
func indexText(fl Field, v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	default:
		return ""
	}
	switch fl.Type {
	case TypePhone:
		return fieldcrypt.NormalizePhone(s)
	case TypeEmail:
		return fieldcrypt.NormalizeEmail(s)
	}
	return fieldcrypt.NormalizeText(s)
}

func blindIndex(key []byte, tid tenant.ID, object string, fl Field, v any) (string, error) {
	return fieldcrypt.BlindIndex(key, fieldcrypt.IndexScope{Tenant: tid, Object: object, Field: fl.Name}, indexText(fl, v))
}

// searchIndexes returns the blind indexes v would have under every term
// values may still be indexed with (normally one; two during a rotation).
func (s *Service) searchIndexes(ctx context.Context, tid tenant.ID, object string, fl Field, v any) ([]string, error) {
	if s.keys == nil {
		return nil, apperr.Internal(errNoKeys)
	}
	terms, err := s.keys.ActiveTerms(ctx, tid)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, term := range terms {
		key, err := s.keys.DeriveKey(ctx, tid, term, blindIndexPurpose)
		if err != nil {
			return nil, err
		}
		idx, err := blindIndex(key, tid, object, fl, v)
		clear(key)
		if errors.Is(err, fieldcrypt.ErrEmptyValue) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, idx)
	}
	return out, nil
}

// openFields returns the plaintext of stored field values. A value that
// does not open (tampered, moved from another record or field, or its key
// destroyed) fails the whole read: showing a partial record as if it were
// complete would hide the tampering.
func (s *Service) openFields(ctx context.Context, tid tenant.ID, object, id string, stored map[string]any) (map[string]any, error) {
	var plain map[string]any
	for name, v := range stored {
		env, ok := sealedEnvelope(v)
		if !ok {
			continue
		}
		if plain == nil {
			plain = make(map[string]any, len(stored))
			for k, v := range stored {
				plain[k] = v
			}
		}
		pv, err := s.openValue(ctx, tid, object, id, name, env)
		if err != nil {
			return nil, err
		}
		plain[name] = pv
	}
	if plain == nil {
		return stored, nil
	}
	return plain, nil
}

func (s *Service) openValue(ctx context.Context, tid tenant.ID, object, id, field, env string) (any, error) {
	if s.keys == nil {
		return nil, apperr.Internal(errNoKeys)
	}
	pt, err := fieldcrypt.Decrypt(ctx, s.keys, binding(tid, object, id, field), env)
	if err != nil {
		if ae, ok := apperr.As(err); ok && ae.Kind == apperr.KindNotFound {
			return nil, apperr.Conflict("the encrypted values of this tenant can no longer be read: its data keys are gone").Wrap(errors.Join(ErrKeysGone, err))
		}
		return nil, apperr.Internal(fmt.Errorf("open %s %s field %s: %w", object, id, field, err))
	}
	var v any
	if err := json.Unmarshal(pt, &v); err != nil {
		return nil, apperr.Internal(fmt.Errorf("decode %s %s field %s: %w", object, id, field, err))
	}
	return v, nil
}

// openFor opens r for actor. Values sealed at rest are never decrypted
// for an operator: they stay sealed here and present shows them masked.
func (s *Service) openFor(ctx context.Context, actor tenant.Actor, r Record) (Record, error) {
	if actor.Kind == tenant.ActorOperator {
		return r, nil
	}
	return s.openRecord(ctx, actor.TenantID, r)
}

// openRecord replaces r's stored field values by their plaintext.
func (s *Service) openRecord(ctx context.Context, tid tenant.ID, r Record) (Record, error) {
	fields, err := s.openFields(ctx, tid, r.Object, r.ID, r.Fields)
	if err != nil {
		return Record{}, err
	}
	r.Fields = fields
	return r, nil
}

// present returns r as actor may see it: hidden fields left out, masked
// fields masked (and listed in Masked), the name masked when its field is.
func present(actor tenant.Actor, obj Object, r Record) Record {
	out := r
	out.Fields = make(map[string]any, len(r.Fields))
	out.Masked = nil
	for name, v := range r.Fields {
		fl, ok := obj.Field(name)
		if !ok {
			continue // a value of a field that no longer exists is not shown
		}
		level := access.FieldAccess(actor, fl.Policy)
		if _, sealed := sealedEnvelope(v); sealed && level != access.FieldHidden {
			// Only an operator's read leaves values sealed: nothing of
			// them is shown, not even a masked form.
			out.Fields[name] = access.Mask(access.MaskFull, "sealed")
			out.Masked = append(out.Masked, name)
			continue
		}
		switch level {
		case access.FieldHidden:
			continue
		case access.FieldMasked:
			out.Fields[name] = fl.Policy.MaskValue(displayText(v))
			out.Masked = append(out.Masked, name)
		default:
			out.Fields[name] = v
		}
	}
	slices.Sort(out.Masked)
	if fl, ok := obj.Field(obj.NameField); ok && !access.CanReadField(access.FieldAccess(actor, fl.Policy)) {
		out.Name = fl.Policy.MaskValue(r.Name)
	}
	return out
}

// displayText is the text a value is masked from.
func displayText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// storedAuditChanges is the diff of plaintext values with the values of
// encrypted fields replaced by their sealed stored form, so the audit
// trail holds no more plaintext than the records table does.
func storedAuditChanges(obj Object, plainBefore, plainAfter, storedBefore, storedAfter map[string]any) map[string]audit.Change {
	diff := audit.Diff(plainBefore, plainAfter)
	for name, c := range diff {
		fl, ok := obj.Field(name)
		if !ok || !fl.Encrypted {
			continue
		}
		if c.Before != nil {
			c.Before = storedBefore[name]
		}
		if c.After != nil {
			c.After = storedAfter[name]
		}
		diff[name] = c
	}
	return diff
}

// PresentEvents prepares audit events for actor: values of encrypted
// fields are opened and shown masked (the trail keeps them sealed at
// rest), values of fields the actor may not read are masked or left out.
// Events of other kinds pass unchanged.
func (s *Service) PresentEvents(ctx context.Context, actor tenant.Actor, events []audit.Event) ([]audit.Event, error) {
	objs := map[string]*Object{}
	out := make([]audit.Event, len(events))
	for i, e := range events {
		out[i] = e
		obj, seen := objs[e.ObjectType]
		if !seen {
			o, err := s.store.Object(ctx, actor.TenantID, e.ObjectType)
			if err != nil && !apperr.Is(err, apperr.KindNotFound) {
				return nil, err
			}
			if err == nil {
				obj = &o
			}
			objs[e.ObjectType] = obj
		}
		if obj == nil {
			continue
		}
		if nf, ok := obj.Field(obj.NameField); ok && !access.CanReadField(access.FieldAccess(actor, nf.Policy)) {
			out[i].ObjectName = nf.Policy.MaskValue(e.ObjectName)
		}
		if len(e.Changes) == 0 {
			continue
		}
		changes := make(map[string]audit.Change, len(e.Changes))
		for name, c := range e.Changes {
			fl, ok := obj.Field(name)
			if !ok {
				changes[name] = c
				continue
			}
			level := access.FieldAccess(actor, fl.Policy)
			if level == access.FieldHidden {
				continue
			}
			_, sealedBefore := sealedEnvelope(c.Before)
			_, sealedAfter := sealedEnvelope(c.After)
			// Values sealed at rest show masked even after the field was
			// switched to plain: the event keeps the form it was written in.
			if !fl.Encrypted && !fl.CryptoPending && !sealedBefore && !sealedAfter && access.CanReadField(level) {
				changes[name] = c
				continue
			}
			var err error
			op := actor.Kind == tenant.ActorOperator
			if c.Before, err = s.auditValue(ctx, actor.TenantID, op, e, fl, c.Before); err != nil {
				return nil, err
			}
			if c.After, err = s.auditValue(ctx, actor.TenantID, op, e, fl, c.After); err != nil {
				return nil, err
			}
			changes[name] = c
		}
		out[i].Changes = changes
	}
	return out, nil
}

// auditValue shows one audited value masked, opening it first if sealed.
func (s *Service) auditValue(ctx context.Context, tid tenant.ID, operator bool, e audit.Event, fl Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if env, ok := sealedEnvelope(v); ok {
		if operator {
			return access.Mask(access.MaskFull, "sealed"), nil
		}
		pv, err := s.openValue(ctx, tid, e.ObjectType, e.ObjectID, fl.Name, env)
		if err != nil {
			if errors.Is(err, ErrKeysGone) {
				return access.Mask(access.MaskFull, "x"), nil
			}
			return nil, err
		}
		v = pv
	}
	return fl.Policy.MaskValue(displayText(v)), nil
}

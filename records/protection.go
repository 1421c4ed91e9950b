package records

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/tenant"
)

// Protection is a field's encryption, search and visibility settings, as
// an admin sets them.
type Protection struct {
	Encrypted  bool
	Searchable bool
	Policy     access.FieldPolicy
}

// maxKeep bounds the custom mask rule's kept characters.
const maxKeep = 20

// checkProtection validates p for field fl of obj; problems are keyed by
// the API's names for the settings.
func checkProtection(obj Object, fl Field, p Protection) map[string]string {
	bad := map[string]string{}
	isName := fl.Name == obj.NameField
	if p.Encrypted && !fl.Type.Encryptable() {
		bad["encrypted"] = fmt.Sprintf("%s fields cannot be encrypted", fl.Type)
	}
	if p.Encrypted && isName {
		bad["encrypted"] = "the name field identifies records in lists, lookups and the audit trail and cannot be encrypted; mask it instead"
	}
	if p.Searchable && !p.Encrypted {
		bad["searchable"] = "only encrypted fields have a search setting; other fields are always filterable"
	}
	if p.Policy.Mask != "" && !access.ValidMaskRule(p.Policy.Mask) {
		bad["mask"] = "unknown mask rule"
	}
	if p.Policy.Mask != access.MaskCustom && (p.Policy.KeepFirst != 0 || p.Policy.KeepLast != 0) {
		bad["mask"] = "keep_first and keep_last apply only to the custom rule"
	}
	if p.Policy.KeepFirst < 0 || p.Policy.KeepFirst > maxKeep || p.Policy.KeepLast < 0 || p.Policy.KeepLast > maxKeep {
		bad["mask"] = fmt.Sprintf("keep_first and keep_last must be between 0 and %d", maxKeep)
	}
	for role, level := range p.Policy.Levels {
		switch {
		case !access.ValidRole(role):
			bad["levels"] = "unknown role " + truncate(role, 30)
		case !access.ValidFieldLevel(level):
			bad["levels"] = "levels are hidden, masked, read or edit"
		case isName && level == access.FieldHidden:
			bad["levels"] = "the name field can be masked but not hidden"
		}
	}
	for _, role := range p.Policy.Reveal {
		if !access.ValidRole(role) {
			bad["reveal"] = "unknown role " + truncate(role, 30)
		}
	}
	return bad
}

// normalizePolicy drops what does not change behaviour, so that stored
// policies compare equal when they mean the same.
func normalizePolicy(p access.FieldPolicy) access.FieldPolicy {
	levels := map[string]access.FieldLevel{}
	for role, l := range p.Levels {
		if l != access.FieldEdit {
			levels[role] = l
		}
	}
	p.Levels = levels
	if len(p.Levels) == 0 {
		p.Levels = nil
	}
	reveal := slices.Clone(p.Reveal)
	slices.Sort(reveal)
	p.Reveal = slices.Compact(reveal)
	if len(p.Reveal) == 0 {
		p.Reveal = nil
	}
	return p
}

// SetProtection changes a field's protection (admins only). Turning
// encryption on or off for a field with stored values queues a background
// job that converts them; reads, writes and searches keep working
// meanwhile. It returns the updated field and the job's ID ("" if none).
func (s *Service) SetProtection(ctx context.Context, actor tenant.Actor, object, field string, p Protection) (Field, string, error) {
	if !access.CanManageSchema(actor) {
		return Field{}, "", apperr.Forbidden()
	}
	now := s.now().UTC()
	var out Field
	var jobID string
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		obj, err := s.store.Object(ctx, actor.TenantID, object)
		if err != nil {
			return err
		}
		fl, ok := obj.Field(field)
		if !ok {
			return apperr.NotFound("field")
		}
		if bad := checkProtection(obj, fl, p); len(bad) > 0 {
			return apperr.InvalidFields(bad)
		}
		p.Policy = normalizePolicy(p.Policy)
		before := protectionAudit(fl)
		next := fl
		next.Encrypted, next.Searchable, next.Policy = p.Encrypted, p.Searchable, p.Policy
		convert := next.Encrypted != fl.Encrypted || (next.Searchable && !fl.Searchable)
		if convert {
			n, err := s.store.CountRecords(ctx, actor.TenantID, object)
			if err != nil {
				return err
			}
			if n > 0 || fl.CryptoPending {
				next.CryptoPending = true
				if s.jobs == nil {
					return apperr.Internal(fmt.Errorf("records: no job queue to convert %s.%s", object, field))
				}
				if jobID, err = s.jobs.EnqueueFieldConversion(ctx, actor.TenantID, object, field, actor.UserID); err != nil {
					return err
				}
			}
		}
		after := protectionAudit(next)
		diff := audit.Diff(before, after)
		if len(diff) == 0 {
			out = fl
			return nil
		}
		if err := s.store.UpdateFieldProtection(ctx, actor.TenantID, object, next); err != nil {
			return err
		}
		ev := audit.New(actor, now, audit.ActionFieldUpdated, "field", object+"."+field, fl.Label)
		ev.Changes = diff
		out = next
		return s.store.AppendAudit(ctx, ev)
	})
	return out, jobID, err
}

// protectionAudit describes a field's protection for the audit trail.
func protectionAudit(fl Field) map[string]any {
	m := map[string]any{
		"encrypted":  fl.Encrypted,
		"searchable": fl.Searchable,
		"mask":       string(fl.Policy.Mask),
		"reveal":     strings.Join(fl.Policy.Reveal, ","),
	}
	if fl.Policy.Mask == access.MaskCustom {
		m["keep"] = fmt.Sprintf("%d/%d", fl.Policy.KeepFirst, fl.Policy.KeepLast)
	}
	for _, role := range access.Roles {
		m["level."+role] = string(access.FieldAccess(tenant.Actor{Kind: tenant.ActorUser, Role: role}, fl.Policy))
	}
	return m
}

// maxReasonLength bounds a reveal reason.
const maxReasonLength = 500

// Reveal shows one masked value to an actor allowed to reveal it, and
// records who saw what and why in the audit trail (the value itself is
// not copied there).
func (s *Service) Reveal(ctx context.Context, actor tenant.Actor, object, id, field, reason string) (any, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return nil, apperr.InvalidFields(map[string]string{"reason": "say why you need to see this value"})
	case utf8.RuneCountInString(reason) > maxReasonLength || !utf8.ValidString(reason) || strings.ContainsFunc(reason, unicode.IsControl):
		return nil, apperr.InvalidFields(map[string]string{"reason": fmt.Sprintf("at most %d characters, without control characters", maxReasonLength)})
	}
	now := s.now().UTC()
	var value any
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		obj, _, plain, err := s.load(ctx, actor, object, id)
		if err != nil {
			return err
		}
		fl, ok := obj.Field(field)
		if !ok {
			return apperr.NotFound("field")
		}
		level := access.FieldAccess(actor, fl.Policy)
		switch {
		case access.CanReadField(level):
			return apperr.Invalid("this value is not masked for you")
		case !access.CanReveal(actor, fl.Policy):
			return apperr.Forbidden()
		}
		v, ok := plain.Fields[field]
		if !ok {
			return apperr.NotFound("value")
		}
		value = v
		ev := audit.New(actor, now, audit.ActionRecordRevealed, object, id, present(actor, obj, plain).Name)
		ev.Changes = map[string]audit.Change{"field": {After: field}, "reason": {After: reason}}
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return nil, err
	}
	return value, nil
}

// ReconcileBatch brings up to limit records of object after afterID to
// the form the field settings and the current key term ask for: values of
// encrypted fields sealed under the current term, values of other fields
// in clear, blind indexes of searchable fields current. It is idempotent,
// so an interrupted job resumes from the last ID it saved. It returns the
// last ID it looked at ("" when there were no more records), how many
// records it looked at and rewrote, and whether the walk is complete.
func (s *Service) ReconcileBatch(ctx context.Context, tid tenant.ID, object, afterID string, limit int) (lastID string, walked, rewritten int, done bool, err error) {
	err = s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		obj, err := s.store.Object(ctx, tid, object)
		if err != nil {
			return err
		}
		batch, err := s.store.RecordsAfter(ctx, tid, object, afterID, limit)
		if err != nil {
			return err
		}
		done = len(batch) < limit
		walked = len(batch)
		var term uint32
		if s.keys != nil {
			if term, _, err = s.keys.CurrentKey(ctx, tid); err != nil {
				return err
			}
		}
		for _, r := range batch {
			lastID = r.ID
			if !needsReconcile(obj, r, term) {
				continue
			}
			plain, err := s.openRecord(ctx, tid, r)
			if err != nil {
				return err
			}
			stored, index, err := s.sealFields(ctx, tid, obj, r.ID, plain.Fields)
			if err != nil {
				return err
			}
			ok, err := s.store.RewriteRecordFields(ctx, tid, object, r.ID, r.Version, stored)
			if err != nil {
				return err
			}
			if !ok {
				continue // changed meanwhile: the writer used the current settings
			}
			if err := s.store.ReplaceRecordIndex(ctx, tid, object, r.ID, index); err != nil {
				return err
			}
			rewritten++
		}
		return nil
	})
	return lastID, walked, rewritten, done, err
}

// needsReconcile reports whether a stored record differs from the form
// its object's settings and the current term ask for. Searchable fields
// always count, since their index rows are not read here.
func needsReconcile(obj Object, r Record, term uint32) bool {
	for name, v := range r.Fields {
		fl, ok := obj.Field(name)
		if !ok {
			continue
		}
		env, sealed := sealedEnvelope(v)
		want := fl.Encrypted && fl.Type.Encryptable()
		switch {
		case sealed != want:
			return true
		case sealed && fl.Searchable:
			return true
		case sealed:
			if t, err := fieldcrypt.Term(env); err != nil || t != term {
				return true
			}
		}
	}
	return false
}

// FinishConversion clears a field's pending flag once every stored value
// has been converted, unless the field changed again meanwhile (pending
// then stays and a new pass is needed: it reports false).
func (s *Service) FinishConversion(ctx context.Context, tid tenant.ID, object, field string, encrypted, searchable bool) (bool, error) {
	var finished bool
	err := s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		obj, err := s.store.Object(ctx, tid, object)
		if err != nil {
			return err
		}
		fl, ok := obj.Field(field)
		if !ok {
			finished = true
			return nil
		}
		if fl.Encrypted != encrypted || fl.Searchable != searchable {
			return nil
		}
		finished = true
		if !fl.CryptoPending {
			return nil
		}
		fl.CryptoPending = false
		return s.store.UpdateFieldProtection(ctx, tid, object, fl)
	})
	return finished, err
}

// FieldSettings returns a field's current encryption and search settings.
func (s *Service) FieldSettings(ctx context.Context, tid tenant.ID, object, field string) (encrypted, searchable bool, err error) {
	obj, err := s.store.Object(ctx, tid, object)
	if err != nil {
		return false, false, err
	}
	fl, ok := obj.Field(field)
	if !ok {
		return false, false, apperr.NotFound("field")
	}
	return fl.Encrypted, fl.Searchable, nil
}

// PendingFields lists the tenant's fields whose conversion is unfinished,
// as "object.field".
func (s *Service) PendingFields(ctx context.Context, tid tenant.ID) ([]string, error) {
	objs, err := s.store.Objects(ctx, tid)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		for _, fl := range o.Fields {
			if fl.CryptoPending {
				out = append(out, o.Name+"."+fl.Name)
			}
		}
	}
	return out, nil
}

// CountRecords counts the records of one object (for job progress).
func (s *Service) CountRecords(ctx context.Context, tid tenant.ID, object string) (int64, error) {
	return s.store.CountRecords(ctx, tid, object)
}

// ObjectNames lists the tenant's objects.
func (s *Service) ObjectNames(ctx context.Context, tid tenant.ID) ([]string, error) {
	objs, err := s.store.Objects(ctx, tid)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Name
	}
	return out, nil
}

// CountTermUsage counts the stored values of the tenant sealed under a
// key term: record values, blind indexes made with the term, and sealed
// values in the audit trail (which is append-only, so a term stays in use
// there until those events age out).
func (s *Service) CountTermUsage(ctx context.Context, tid tenant.ID, term uint32) (int64, error) {
	objs, err := s.store.Objects(ctx, tid)
	if err != nil {
		return 0, err
	}
	var n int64
	count := func(v any) {
		if env, ok := sealedEnvelope(v); ok {
			if t, err := fieldcrypt.Term(env); err == nil && t == term {
				n++
			}
		}
	}
	for _, o := range objs {
		after := ""
		for {
			batch, err := s.store.RecordsAfter(ctx, tid, o.Name, after, 500)
			if err != nil {
				return 0, err
			}
			for _, r := range batch {
				for _, v := range r.Fields {
					count(v)
				}
				after = r.ID
			}
			if len(batch) < 500 {
				break
			}
		}
	}
	idx, err := s.store.CountIndexTerm(ctx, tid, term)
	if err != nil {
		return 0, err
	}
	n += idx
	var before int64
	for {
		events, err := s.store.QueryAudit(ctx, tid, audit.Filter{BeforeSeq: before, Limit: 500})
		if err != nil {
			return 0, err
		}
		for _, e := range events {
			for _, c := range e.Changes {
				count(c.Before)
				count(c.After)
			}
			before = e.Seq
		}
		if len(events) < 500 || before <= 1 {
			break
		}
	}
	return n, nil
}

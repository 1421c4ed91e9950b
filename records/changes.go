package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/tenant"
)

// ChangeOp is what a change did to a record.
type ChangeOp string

const (
	ChangeCreate ChangeOp = "create"
	ChangeUpdate ChangeOp = "update"
	ChangeDelete ChangeOp = "delete"
)

// Change is one entry of a tenant's change feed: a record write, numbered
// in commit order (the store takes the number inside the writing
// transaction, so seq N+1 is never visible before N).
type Change struct {
	Seq      int64
	Op       ChangeOp
	Object   string
	RecordID string
	At       time.Time
}

// ChangeItem is a change as the feed answers it. Record is the record's
// current state as the reader may see it (exactly what GET answers), not
// the state right after the change: it is nil for a delete and for a
// create or update of a record deleted since. A client that applies the
// items in order, upserting records and deleting on deletes (and on items
// without a record), converges on the server's state.
type ChangeItem struct {
	Change
	Record *Record
}

// ChangeStore is what the change feed needs from storage besides the
// records service's own store.
type ChangeStore interface {
	ReadTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error
	ChangesAfter(ctx context.Context, tenantID tenant.ID, afterSeq int64, limit int) ([]Change, error)
	ChangeHead(ctx context.Context, tenantID tenant.ID) (int64, error)
	// ChangeBounds returns the head and the highest sequence number the
	// retention purge removed.
	ChangeBounds(ctx context.Context, tenantID tenant.ID) (head, purgedThrough int64, err error)
}

// Feed serves the change feed (GET /api/v1/changes).
type Feed struct {
	store ChangeStore
	svc   *Service
}

// NewFeed returns the change feed; records are read and presented through
// svc, so the feed shows exactly what GET shows.
func NewFeed(store ChangeStore, svc *Service) *Feed { return &Feed{store: store, svc: svc} }

// Feed limits.
const (
	DefaultChangeLimit = 100
	MaxChangeLimit     = 1000
)

// cursorPrefix versions the cursor format.
const cursorPrefix = "c1."

// cursorTag binds a cursor to its tenant, so that a cursor taken from
// another tenant's feed is refused instead of silently skipping changes.
// It is not a secret: it only catches mistakes.
func cursorTag(tid tenant.ID) string {
	h := sha256.Sum256([]byte("haven-change-cursor\x00" + string(tid)))
	return hex.EncodeToString(h[:4])
}

// EncodeChangeCursor returns the opaque cursor standing after seq.
func EncodeChangeCursor(tid tenant.ID, seq int64) string {
	return cursorPrefix + strconv.FormatInt(seq, 10) + "." + cursorTag(tid)
}

// errBadCursor is the one answer to any cursor that is not ours.
var errBadCursor = apperr.Invalid("invalid change cursor: use a next_cursor the feed returned, or the cursor of GET /api/v1/changes/head")

// DefaultChangeRetention is how long the change feed keeps a change when
// the configuration names no other period: long enough for a mirror run
// weekly, or one down for a quarter, to catch up from the feed.
const DefaultChangeRetention = 90 * 24 * time.Hour

// errCursorExpired answers a cursor standing before changes the retention
// purge removed: reading on would skip them, so the copy is stale for good.
var errCursorExpired = apperr.CursorExpired("the change cursor is older than the changes the feed still keeps: " +
	"take a full copy again (GET /api/v1/changes/head, then every object) and follow the feed from that head")

// ParseChangeCursor returns the sequence number of a cursor made by
// EncodeChangeCursor for the same tenant; "" is the feed's beginning.
func ParseChangeCursor(tid tenant.ID, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok || len(s) > 64 {
		return 0, errBadCursor
	}
	num, tag, ok := strings.Cut(rest, ".")
	if !ok || tag != cursorTag(tid) || num == "" || (len(num) > 1 && num[0] == '0') {
		return 0, errBadCursor
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, errBadCursor // no sign, no spaces
		}
	}
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, errBadCursor
	}
	return seq, nil
}

// feedObjects returns the objects whose every record the actor may read:
// the feed reports changes to all records, so reading only one's own
// (sales users) is not enough.
func feedObjects(actor tenant.Actor, objs []Object) map[string]Object {
	out := map[string]Object{}
	if actor.Kind != tenant.ActorUser {
		return out
	}
	for _, o := range objs {
		p := access.ForObject(actor.Role, o.Name)
		if p.Allows(access.Read) && p.Scope == access.ScopeAll {
			out[o.Name] = o
		}
	}
	return out
}

// Head returns the cursor of the feed's current end: a client takes it
// before a full copy and then reads the feed from it, so nothing written
// during the copy is missed.
func (f *Feed) Head(ctx context.Context, actor tenant.Actor) (string, error) {
	var seq int64
	err := f.store.ReadTx(ctx, actor.TenantID, func(ctx context.Context) error {
		objs, err := f.svc.store.Objects(ctx, actor.TenantID)
		if err != nil {
			return err
		}
		if len(feedObjects(actor, objs)) == 0 {
			return apperr.Forbidden().WithDetail("reason", "the change feed needs read access to all records of an object")
		}
		seq, err = f.store.ChangeHead(ctx, actor.TenantID)
		return err
	})
	if err != nil {
		return "", err
	}
	return EncodeChangeCursor(actor.TenantID, seq), nil
}

// Changes returns up to limit changes after the cursor, in commit order,
// the cursor to continue from and whether more changes are already
// waiting. Changes to objects the actor may not read in full are left
// out, but the cursor moves past them.
func (f *Feed) Changes(ctx context.Context, actor tenant.Actor, cursor string, limit int) (items []ChangeItem, next string, more bool, err error) {
	if limit == 0 {
		limit = DefaultChangeLimit
	}
	if limit < 1 || limit > MaxChangeLimit {
		return nil, "", false, apperr.Invalid("limit must be between 1 and %d", MaxChangeLimit)
	}
	since, err := ParseChangeCursor(actor.TenantID, cursor)
	if err != nil {
		return nil, "", false, err
	}
	last := since
	err = f.store.ReadTx(ctx, actor.TenantID, func(ctx context.Context) error {
		objs, err := f.svc.store.Objects(ctx, actor.TenantID)
		if err != nil {
			return err
		}
		readable := feedObjects(actor, objs)
		if len(readable) == 0 {
			return apperr.Forbidden().WithDetail("reason", "the change feed needs read access to all records of an object")
		}
		head, purged, err := f.store.ChangeBounds(ctx, actor.TenantID)
		if err != nil {
			return err
		}
		if since > head {
			return errBadCursor // not a cursor this feed handed out
		}
		if since < purged {
			return errCursorExpired.WithDetail("oldest_cursor", EncodeChangeCursor(actor.TenantID, purged))
		}
		changes, err := f.store.ChangesAfter(ctx, actor.TenantID, since, limit+1)
		if err != nil {
			return err
		}
		// Sequence numbers have no gaps (each is taken in its change's own
		// transaction), so when the head is past the cursor the next change
		// must be since+1. Missing, it was purged after the bounds above
		// were read (this transaction does not hold a snapshot on
		// PostgreSQL): refuse rather than skip it.
		if since < head && (len(changes) == 0 || changes[0].Seq != since+1) {
			return errCursorExpired
		}
		if more = len(changes) > limit; more {
			changes = changes[:limit]
		}
		items = make([]ChangeItem, 0, len(changes))
		for _, c := range changes {
			last = c.Seq
			obj, ok := readable[c.Object]
			if !ok {
				continue
			}
			item := ChangeItem{Change: c}
			if c.Op != ChangeDelete {
				rec, err := f.current(ctx, actor, obj, c.RecordID)
				if err != nil {
					return err
				}
				item.Record = rec
			}
			items = append(items, item)
		}
		return nil
	})
	if err != nil {
		return nil, "", false, err
	}
	return items, EncodeChangeCursor(actor.TenantID, last), more, nil
}

// current reads a record's current state as actor may see it, through the
// same path as Get; nil when it no longer exists.
func (f *Feed) current(ctx context.Context, actor tenant.Actor, obj Object, id string) (*Record, error) {
	stored, err := f.svc.store.Record(ctx, actor.TenantID, obj.Name, id)
	if apperr.Is(err, apperr.KindNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !access.CanRecord(actor, obj.Name, access.Read, stored.OwnerID) {
		return nil, nil // unreachable for feed readers (scope all); fail closed
	}
	plain, err := f.svc.openFor(ctx, actor, stored)
	if err != nil {
		return nil, err
	}
	out := present(actor, obj, plain)
	return &out, nil
}

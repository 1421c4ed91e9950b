package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/havencrm/haven/tenant"
)

// Head is where a trail stands: its last event and its last checkpoint.
type Head struct {
	Seq           int64
	Hash          string
	CheckpointSeq int64
	CheckpointAt  time.Time
}

// ChainStore reads a trail for verification and export.
type ChainStore interface {
	AuditEventsAfter(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]Event, error)
	AuditCheckpoints(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]Checkpoint, error)
	AuditAnchor(ctx context.Context, tid tenant.ID) (*Checkpoint, error)
	AuditHead(ctx context.Context, tid tenant.ID) (Head, error)
}

// DefaultCheckpointEvery and DefaultCheckpointInterval are how often the
// chain is signed: after this many events, or this long after the last
// checkpoint, whichever comes first.
const (
	DefaultCheckpointEvery    = 100
	DefaultCheckpointInterval = 10 * time.Minute
)

// CheckpointPolicy decides when to sign and signs.
type CheckpointPolicy struct {
	Every    int64
	Interval time.Duration
	Signer   interface {
		Sign(Checkpoint) (Checkpoint, error)
	}
}

// Due reports whether the event seq at time at needs a checkpoint.
func (p CheckpointPolicy) Due(seq, checkpointSeq int64, at, checkpointAt time.Time) bool {
	return seq-checkpointSeq >= p.every() || at.Sub(checkpointAt) >= p.Interval
}

// Sign signs a checkpoint.
func (p CheckpointPolicy) Sign(c Checkpoint) (Checkpoint, error) { return p.Signer.Sign(c) }

func (p CheckpointPolicy) every() int64 {
	if p.Every <= 0 {
		return DefaultCheckpointEvery
	}
	return p.Every
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// MaxGap is the most events a trail may hold between two checkpoints
	// (the policy's Every); more means checkpoints were removed. 0 skips
	// the check.
	MaxGap int64
}

// batch is how many events and checkpoints verification reads at once.
const batch = 1000

// Verify recomputes a stored trail from its newest anchor (or its start)
// to its head, checking every hash and every checkpoint signature, and
// names the first place it breaks.
func Verify(ctx context.Context, st ChainStore, tid tenant.ID, keys KeySet, opts VerifyOptions) (Report, error) {
	rep, anchor, err := walk(ctx, st, tid, keys, opts)
	if err != nil || rep.OK {
		return rep, err
	}
	// A retention purge that committed during the walk removes events
	// the walk had yet to read, which looks like events gone missing.
	// If the newest anchor moved meanwhile, walk again from it.
	now, err := st.AuditAnchor(ctx, tid)
	if err != nil {
		return Report{}, err
	}
	if now != nil && (anchor == nil || now.Seq != anchor.Seq) {
		rep, _, err = walk(ctx, st, tid, keys, opts)
	}
	return rep, err
}

// walk verifies the trail once; it also returns the anchor it began from.
func walk(ctx context.Context, st ChainStore, tid tenant.ID, keys KeySet, opts VerifyOptions) (Report, *Checkpoint, error) {
	v := NewVerifier(tid, keys)
	v.maxGap = opts.MaxGap
	// The head is read before the walk and again after it. The walk reads
	// in batches, each its own snapshot, while the trail may keep growing:
	// events and checkpoints committed meanwhile are growth, not
	// tampering. Everything up to the first head was committed before the
	// walk began, so the walk must reach it; nothing the walk saw can lie
	// beyond the second, since an event and its head move in one
	// transaction.
	start, err := st.AuditHead(ctx, tid)
	if err != nil {
		return Report{}, nil, err
	}
	anchor, err := st.AuditAnchor(ctx, tid)
	if err != nil {
		return Report{}, nil, err
	}
	var after int64
	if anchor != nil {
		if v.Anchor(*anchor) != nil {
			return v.Finish(0, ""), anchor, nil
		}
		after = anchor.Seq
	}
	// Checkpoints are read ahead in their own batches and handed to the
	// verifier right after the event they name.
	var cps []Checkpoint
	cpAfter, cpDone := after, false
	nextCheckpoints := func(upTo int64) error {
		for !cpDone && (len(cps) == 0 || cps[len(cps)-1].Seq <= upTo) {
			more, err := st.AuditCheckpoints(ctx, tid, cpAfter, batch)
			if err != nil {
				return err
			}
			for _, c := range more {
				if c.Kind == KindCheckpoint {
					cps = append(cps, c)
				}
				cpAfter = c.Seq
			}
			cpDone = len(more) < batch
		}
		return nil
	}
	for {
		events, err := st.AuditEventsAfter(ctx, tid, after, batch)
		if err != nil {
			return Report{}, anchor, err
		}
		// Read checkpoints again for each batch even after a short read:
		// the trail may have grown since, and the checkpoints of these
		// events (committed with them, or before a later one that counts
		// from them) are visible now. Missing them would look like
		// removed checkpoints.
		cpDone = false
		for _, e := range events {
			if err := nextCheckpoints(e.Seq); err != nil {
				return Report{}, anchor, err
			}
			if v.Event(e) != nil {
				return v.Finish(0, ""), anchor, nil
			}
			for len(cps) > 0 && cps[0].Seq <= e.Seq {
				if v.Checkpoint(cps[0]) != nil {
					return v.Finish(0, ""), anchor, nil
				}
				cps = cps[1:]
			}
			after = e.Seq
		}
		if len(events) < batch {
			break
		}
	}
	cpDone = false
	if err := nextCheckpoints(1<<62 - 1); err != nil {
		return Report{}, anchor, err
	}
	end, err := st.AuditHead(ctx, tid)
	if err != nil {
		return Report{}, anchor, err
	}
	// The checkpoints left name events after the last one read: signed
	// while the walk ran if the head has reached them, else they name
	// events that are gone.
	for _, c := range cps {
		if c.Seq <= end.Seq {
			continue
		}
		if v.Checkpoint(c) != nil {
			return v.Finish(0, ""), anchor, nil
		}
	}
	// last is where the walk ended: the last event, or the anchor.
	last := v.next - 1
	switch {
	case start.Seq > last:
		_ = v.fail(v.next, "events %d to %d are missing from the end of the trail", v.next, start.Seq)
	case end.Seq < last:
		_ = v.fail(end.Seq+1, "event %d lies beyond the recorded head of the trail (%d): it was added outside Haven", end.Seq+1, end.Seq)
	case end.Seq == last && v.report.Events > 0 && v.report.LastSeq == last && end.Hash != v.report.LastHash:
		_ = v.fail(last, "the last event does not match the recorded head of the trail")
	}
	return v.Finish(0, ""), anchor, nil
}

// String describes a report in one line.
func (r Report) String() string {
	if r.OK {
		return fmt.Sprintf("ok: %d events (%d to %d), %d checkpoints verified, %d events after the last checkpoint", r.Events, r.FirstSeq, r.LastSeq, r.Checkpoints, r.Unsigned)
	}
	return fmt.Sprintf("BROKEN at %d: %s", r.Problem.Seq, r.Problem.Reason)
}

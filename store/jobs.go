package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/tenant"
)

var _ jobs.Store = (*DB)(nil)

const jobCols = `tenant_id, id, kind, dedup_key, payload, state, total, done, cursor, error_message, attempts, created_by, created_at, updated_at, finished_at`

// The lease columns, cleared whenever a run ends.
const jobLeaseCleared = `lease_owner = '', lease_token = '', lease_until = NULL`

// jobClaimable is the predicate a job must meet, at the moment of the
// guarded UPDATE, to be leased: due and queued, or running under a lease
// that ended (its worker presumed dead). Its two parameters are now.
const jobClaimable = `((state = 'queued' AND not_before <= ?) OR (state = 'running' AND lease_until < ?))`

// claimCandidates is how many due jobs one claim tries before giving up
// to the other workers that took them.
const claimCandidates = 5

func scanJob(row scanner) (jobs.Job, error) {
	var j jobs.Job
	var tid, state, payload string
	var created, updated int64
	var finished sql.NullInt64
	if err := row.Scan(&tid, &j.ID, &j.Kind, &j.Key, &payload, &state, &j.Total, &j.Done, &j.Cursor, &j.Error, &j.Attempts,
		&j.CreatedBy, &created, &updated, &finished); err != nil {
		if errors.Is(err, errNoRows) {
			return j, apperr.NotFound("job")
		}
		return j, mapErr(err)
	}
	j.TenantID, j.State, j.Payload = tenant.ID(tid), jobs.State(state), []byte(payload)
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = fromMicros(created), fromMicros(updated), fromNullMicros(finished)
	return j, nil
}

// EnqueueJob inserts j, or, when j.Key is held by an unfinished job of the
// tenant, returns that job and false. The partial unique index decides
// (ON CONFLICT DO NOTHING), so two concurrent enqueues cannot both insert
// and neither aborts the caller's transaction.
func (db *DB) EnqueueJob(ctx context.Context, j jobs.Job, notBefore time.Time) (jobs.Job, bool, error) {
	var out jobs.Job
	var created bool
	err := db.inTx(ctx, j.TenantID, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `INSERT INTO jobs (tenant_id, id, kind, dedup_key, payload, state, total, done, cursor, error_message, attempts,
				created_by, created_at, updated_at, not_before)
			VALUES (?, ?, ?, ?, ?, ?, 0, 0, '', '', 0, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			string(j.TenantID), j.ID, j.Kind, j.Key, string(j.Payload), string(jobs.Queued),
			j.CreatedBy, micros(j.CreatedAt), micros(j.UpdatedAt), micros(notBefore))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return mapErr(err)
		}
		if n == 1 {
			created = true
			out, err = scanJob(q.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? AND id = ?`, string(j.TenantID), j.ID))
			return err
		}
		if j.Key == "" {
			// Only the key index can conflict; an ID clash is a bug.
			return apperr.Internal(errors.New("store: job insert ignored without a key"))
		}
		var found bool
		out, found, err = unfinishedJob(ctx, q, j.TenantID, j.Key)
		if err == nil && !found {
			// The holder finished between the insert and this read.
			return apperr.Conflict("a job with this key just finished; retry")
		}
		return err
	})
	return out, created, err
}

// Job returns one job of tid.
func (db *DB) Job(ctx context.Context, tid tenant.ID, id string) (jobs.Job, error) {
	var j jobs.Job
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		j, err = scanJob(q.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? AND id = ?`, string(tid), id))
		return err
	})
	return j, err
}

// Jobs returns tid's most recent jobs, newest first.
func (db *DB) Jobs(ctx context.Context, tid tenant.ID, limit int) ([]jobs.Job, error) {
	return queryAll(ctx, db, tid, scanJob,
		`SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, string(tid), limit)
}

// UnfinishedJob returns tid's queued or running job with key.
func (db *DB) UnfinishedJob(ctx context.Context, tid tenant.ID, key string) (jobs.Job, bool, error) {
	var j jobs.Job
	var found bool
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		j, found, err = unfinishedJob(ctx, q, tid, key)
		return err
	})
	return j, found, err
}

func unfinishedJob(ctx context.Context, q querier, tid tenant.ID, key string) (jobs.Job, bool, error) {
	j, err := scanJob(q.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? AND dedup_key = ? AND state IN (?, ?)`,
		string(tid), key, string(jobs.Queued), string(jobs.Running)))
	if apperr.Is(err, apperr.KindNotFound) {
		return jobs.Job{}, false, nil
	}
	return j, err == nil, err
}

// ClaimJob leases one due job of c.Kinds across all tenants. It runs as a
// platform transaction (tenant ""), which the jobs table's row-level
// security lets read and update but not insert. The candidates are read
// first; each is then taken by an UPDATE that repeats the claimable
// predicate, so when two workers race for one job the database lets
// exactly one UPDATE match (PostgreSQL re-checks the predicate on the row
// the winner committed; SQLite serializes writers) and the loser moves on.
func (db *DB) ClaimJob(ctx context.Context, c jobs.Claim) (jobs.Job, bool, error) {
	if len(c.Kinds) == 0 {
		return jobs.Job{}, false, nil
	}
	var out jobs.Job
	var claimed bool
	now := micros(c.Now)
	err := db.inTx(ctx, "", true, func(ctx context.Context, q querier) error {
		kinds := make([]any, 0, len(c.Kinds)+3)
		for _, k := range c.Kinds {
			kinds = append(kinds, k)
		}
		inKinds := "kind IN (?" + strings.Repeat(", ?", len(c.Kinds)-1) + ")"
		args := append(append([]any{}, kinds...), now, now, claimCandidates)
		rows, err := q.query(ctx, `SELECT tenant_id, id FROM jobs WHERE `+inKinds+` AND `+jobClaimable+`
			ORDER BY not_before, id LIMIT ?`, args...)
		if err != nil {
			return err
		}
		type ref struct{ tid, id string }
		var cands []ref
		for rows.Next() {
			var r ref
			if err := rows.Scan(&r.tid, &r.id); err != nil {
				rows.Close()
				return mapErr(err)
			}
			cands = append(cands, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return mapErr(err)
		}
		for _, r := range cands {
			res, err := q.exec(ctx, `UPDATE jobs SET state = ?, attempts = attempts + 1, lease_owner = ?, lease_token = ?, lease_until = ?, updated_at = ?
				WHERE tenant_id = ? AND id = ? AND `+jobClaimable,
				string(jobs.Running), c.Owner, c.Token, micros(c.LeaseUntil), now, r.tid, r.id, now, now)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return mapErr(err)
			}
			if n != 1 {
				continue // another worker took it first
			}
			out, err = scanJob(q.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? AND id = ?`, r.tid, r.id))
			claimed = err == nil
			return err
		}
		return nil
	})
	if err != nil {
		return jobs.Job{}, false, err
	}
	return out, claimed, nil
}

// SaveJobProgress stores a checkpoint and extends the lease in one
// statement, only while token still holds the job.
func (db *DB) SaveJobProgress(ctx context.Context, tid tenant.ID, id, token string, c jobs.Checkpoint) (bool, error) {
	return db.updateLeased(ctx, tid, id, token, `cursor = ?, done = ?, total = ?, lease_until = ?, updated_at = ?`,
		c.Cursor, c.Done, c.Total, micros(c.LeaseUntil), micros(c.Now))
}

// RenewJobLease extends the lease while token still holds the job.
func (db *DB) RenewJobLease(ctx context.Context, tid tenant.ID, id, token string, until, now time.Time) (bool, error) {
	return db.updateLeased(ctx, tid, id, token, `lease_until = ?, updated_at = ?`, micros(until), micros(now))
}

// FinishJob records how a run ended, only while token still holds the
// job; the lease is cleared.
func (db *DB) FinishJob(ctx context.Context, tid tenant.ID, id, token string, o jobs.Outcome) (bool, error) {
	at := micros(o.At)
	switch {
	case o.State == jobs.Succeeded:
		return db.updateLeased(ctx, tid, id, token, `state = ?, done = total, error_message = '', finished_at = ?, updated_at = ?, `+jobLeaseCleared,
			string(jobs.Succeeded), at, at)
	case o.State == jobs.Failed:
		return db.updateLeased(ctx, tid, id, token, `state = ?, error_message = ?, finished_at = ?, updated_at = ?, `+jobLeaseCleared,
			string(jobs.Failed), o.Error, at, at)
	case o.State == jobs.Queued && o.Release:
		// The claim counted this run; a run cut short by a stopping worker
		// is not an attempt.
		return db.updateLeased(ctx, tid, id, token, `state = ?, attempts = attempts - 1, not_before = ?, updated_at = ?, `+jobLeaseCleared,
			string(jobs.Queued), micros(o.NotBefore), at)
	case o.State == jobs.Queued:
		return db.updateLeased(ctx, tid, id, token, `state = ?, error_message = ?, not_before = ?, updated_at = ?, `+jobLeaseCleared,
			string(jobs.Queued), o.Error, micros(o.NotBefore), at)
	}
	return false, apperr.Internal(errors.New("store: unknown job outcome " + string(o.State)))
}

// updateLeased applies set to the job while it is running under token,
// reporting whether it did.
func (db *DB) updateLeased(ctx context.Context, tid tenant.ID, id, token, set string, args ...any) (bool, error) {
	if token == "" {
		return false, nil
	}
	var n int64
	err := db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		all := append(append([]any{}, args...), string(tid), id, string(jobs.Running), token)
		res, err := q.exec(ctx, `UPDATE jobs SET `+set+` WHERE tenant_id = ? AND id = ? AND state = ? AND lease_token = ?`, all...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return mapErr(err)
	})
	return n == 1, err
}

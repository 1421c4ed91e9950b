package attachments

import (
	"context"
	"fmt"
	"math"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/tenant"
)

// ExportBatch lists up to limit of the tenant's attachments after
// afterID, in ID order, with their file names opened. It is for the full
// export job, which checked who asked and audits the export as a whole;
// it must not serve a request.
func (s *Service) ExportBatch(ctx context.Context, tid tenant.ID, afterID string, limit int) ([]Attachment, error) {
	// Every term is below MaxUint32, so this pages through all of them.
	rows, err := s.store.AttachmentsBelowTerm(ctx, tid, math.MaxUint32, afterID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Attachment, 0, len(rows))
	for _, r := range rows {
		name, err := s.openName(ctx, tid, r)
		if err != nil {
			return nil, err
		}
		out = append(out, attachmentOf(r, name))
	}
	return out, nil
}

// OpenForExport opens one attachment's decrypted content for the full
// export (see ExportBatch), without a per-file audit event: the export's
// own events record that every file left.
func (s *Service) OpenForExport(ctx context.Context, tid tenant.ID, a Attachment) (*Download, error) {
	if !canonicalID(a.ID) {
		return nil, apperr.NotFound("attachment")
	}
	row, err := s.store.Attachment(ctx, tid, a.Object, a.RecordID, a.ID)
	if err != nil {
		return nil, err
	}
	fileKey, err := fieldcrypt.Decrypt(ctx, s.keys, binding(tid, row.ID, fieldFileKey), row.SealedKey)
	if err != nil {
		return nil, openErr(row.ID, "file key", err)
	}
	defer clear(fileKey)
	f, err := s.files.Open(ctx, tid, row.ID)
	if err != nil {
		return nil, apperr.Internal(fmt.Errorf("attachments: file of attachment %s: %w", row.ID, err))
	}
	r, err := NewReader(f, fileKey, FileBinding{Tenant: tid, AttachmentID: row.ID})
	if err == nil {
		err = r.prime()
	}
	if err != nil {
		f.Close()
		return nil, apperr.Internal(fmt.Errorf("attachments: attachment %s: %w", row.ID, err))
	}
	return &Download{Attachment: attachmentOf(row, a.Filename), f: f, r: r}, nil
}

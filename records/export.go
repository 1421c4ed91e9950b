package records

import (
	"context"

	"github.com/havencrm/haven/tenant"
)

// ExportBatch returns up to limit records of object after afterID in ID
// order, with every sealed value opened: the full export hands the
// customer its own data in clear. It is for the export job, which checked
// who asked; it applies no field policy and must not serve a request.
// Callers page with the last ID, so memory stays bounded by limit
// whatever the table's size.
func (s *Service) ExportBatch(ctx context.Context, tid tenant.ID, object, afterID string, limit int) ([]Record, error) {
	batch, err := s.store.RecordsAfter(ctx, tid, object, afterID, limit)
	if err != nil {
		return nil, err
	}
	for i, r := range batch {
		if batch[i], err = s.openRecord(ctx, tid, r); err != nil {
			return nil, err
		}
	}
	return batch, nil
}

// ExportObjects returns the tenant's objects with their fields and
// protection settings, standard and custom, for the export's metadata.
func (s *Service) ExportObjects(ctx context.Context, tid tenant.ID) ([]Object, error) {
	return s.store.Objects(ctx, tid)
}

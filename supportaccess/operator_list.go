package supportaccess

import (
	"context"
	"errors"

	"github.com/havencrm/haven/apperr"
)

// OperatorStore lists one operator's grants across tenants (a platform
// read: the operator console shows an operator their own requests
// without a tenant to start from). *store.DB implements it.
type OperatorStore interface {
	OperatorGrants(ctx context.Context, operatorID string, limit int) ([]Grant, error)
}

// maxOperatorRequests bounds the status page; an operator with more
// open requests than this has a process problem, not a paging one.
const maxOperatorRequests = 200

// OperatorRequests returns the requests and grants of operatorID in every
// tenant, newest first, each as it stands now (an active grant whose
// window passed shows expired). Only the operator's own grants are ever
// returned: the store filters on the operator ID, and the result is
// checked again here so a store bug cannot show another operator's.
func (s *Service) OperatorRequests(ctx context.Context, operatorID string) ([]Grant, error) {
	if operatorID == "" {
		return nil, apperr.Unauthenticated()
	}
	st, ok := s.store.(OperatorStore)
	if !ok {
		return nil, apperr.Internal(errNoOperatorStore)
	}
	gs, err := st.OperatorGrants(ctx, operatorID, maxOperatorRequests)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Grant, 0, len(gs))
	for _, g := range gs {
		if g.OperatorID == operatorID {
			out = append(out, g.At(now))
		}
	}
	return out, nil
}

var errNoOperatorStore = errors.New("supportaccess: the store cannot list an operator's grants")

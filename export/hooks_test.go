package export

// SetBatchHook makes every run call fn after each batch of records with
// the records written so far; an error from fn ends the run as a crash
// would. Tests only.
func (s *Service) SetBatchHook(fn func(records int64) error) {
	if fn == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&fn)
}

package broker

// SetRetainedMatchedHook sets testHookRetainedMatched until the returned
// function is called. Tests that set it must not run in parallel.
func SetRetainedMatchedHook(f func(topic string)) (restore func()) {
	testHookRetainedMatched = f
	return func() { testHookRetainedMatched = nil }
}

// JournalQueued is how many changes wait for the journal's next commit.
func (s *Server) JournalQueued() int {
	j := s.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.ops)
}

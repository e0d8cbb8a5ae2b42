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

// HoldWriter keeps the connection of the client id from writing anything
// until the returned function is called, as a flusher the scheduler is
// late to run would: what is queued for it waits while its socket is
// empty.
func (s *Server) HoldWriter(id string) (release func()) {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	sess.mu.Lock()
	w := sess.conn.w
	sess.mu.Unlock()
	w.mu.Lock()
	w.held = true
	w.mu.Unlock()
	return w.letGo
}

// SessionIndexed is the client id's count of subscriptions in the index
// and whether it ever had several at once (session.indexed).
func (s *Server) SessionIndexed(id string) (n int, several bool) {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	v := sess.indexed.Load()
	return int(v &^ severalSubs), v&severalSubs != 0
}

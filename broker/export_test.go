package broker

// SetRetainedMatchedHook sets testHookRetainedMatched until the returned
// function is called. Tests that set it must not run in parallel.
func SetRetainedMatchedHook(f func(topic string)) (restore func()) {
	testHookRetainedMatched = f
	return func() { testHookRetainedMatched = nil }
}

package auth

// Result is one authentication or access check's answer, in a chain of
// them (the dynamic security plugin, tokens, an HTTP service, the files).
type Result int

const (
	// Defer is no opinion (Mosquitto's MOSQ_ERR_PLUGIN_DEFER): the next
	// check in the chain decides, and if every check defers the broker
	// refuses, except that a client without a username connects when
	// allow_anonymous is true.
	Defer Result = iota
	// Allow grants the request; nothing else is asked.
	Allow
	// Deny refuses the request; nothing else is asked.
	Deny
)

func (r Result) String() string {
	switch r {
	case Defer:
		return "defer"
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "Result(?)"
}

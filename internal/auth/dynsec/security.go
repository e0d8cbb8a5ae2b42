package dynsec

import (
	"github.com/midge-mqtt/midge/internal/auth"

	"io"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Topics of the control API.
const (
	Topic         = "$CONTROL/dynamic-security/v1"
	ResponseTopic = "$CONTROL/dynamic-security/v1/response"
)

// Access is what a client wants to do with a topic, with the values of
// Mosquitto's MOSQ_ACL_* constants.
type Access int

const (
	Read        Access = 1 // the broker delivers a message to the client (publishClientReceive)
	Write       Access = 2 // the client publishes, or its will is sent (publishClientSend)
	Subscribe   Access = 4 // the client subscribes to a filter
	Unsubscribe Access = 8 // the client unsubscribes from a filter
)

// Result is the plugin's answer to a check.
type Result = auth.Result

// The plugin's answers.
const (
	Defer = auth.Defer
	Allow = auth.Allow
	Deny  = auth.Deny
)

// Kick names connected clients that Mosquitto disconnects after a change
// (mosquitto_kick_client_by_username), without their wills and with
// DISCONNECT 0x98 (administrative action) for MQTT 5 clients: those logged
// in as Username, or, when Anonymous is set, every client connected without
// a username. Mosquitto also drops the subscriptions of a persistent
// session that its ACLs no longer allow (check_subscription_acls).
type Kick struct {
	Username  string
	Anonymous bool
}

// Security is the dynamic security plugin for one configuration file.
// Authenticate and Authorize may be called from any number of goroutines
// at once, also while Handle runs: they read an immutable view of the
// configuration, replaced after every control request that changes it, and
// take no lock.
type Security struct {
	path string
	log  *slog.Logger
	view atomic.Pointer[view]

	mu      sync.Mutex // serialises Handle and Adopt
	model   *model
	version int64 // see shared.go
	unsaved bool  // the last save failed
}

// Open loads the configuration file at path, as the plugin does when it
// is loaded with plugin_opt_config_file. A file that does not exist is an
// empty configuration (so the first change creates it, as in Mosquitto);
// a file that cannot be read or is not a valid configuration is an error
// that names the file and the reason. log receives what Mosquitto logs
// (nil: discard).
func Open(path string, log *slog.Logger) (*Security, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := loadModel(path, log)
	if err != nil {
		return nil, err
	}
	s := &Security{path: path, log: log, model: m, version: versionOf(path)}
	s.view.Store(compile(m))
	return s, nil
}

// Path returns the configuration file's path.
func (s *Security) Path() string { return s.path }

// Authenticate checks a CONNECT's username and password
// (dynsec_auth__basic_auth_callback). It defers when there is no username
// or no password (Mosquitto reads a zero-length one as none), when the
// username is not a dynsec client, and when the client has no password; it
// denies a disabled client, a client bound to another client id and a wrong
// password.
func (s *Security) Authenticate(clientID, username string, hasUsername bool, password []byte, hasPassword bool) Result {
	if !hasUsername || username == "" || !hasPassword || len(password) == 0 {
		return Defer
	}
	return s.view.Load().authenticate(clientID, cString(username), password)
}

// Authorize checks an access to a topic (dynsec__acl_check_callback). A
// client with a username is judged by its own roles, then by the roles of
// each of its groups, groups and roles in priority order, and within a role
// by the ACLs of the access's type in priority order: the first ACL that
// matches decides. A client without a username (or with an empty one) is
// judged by the anonymous group's roles. For Subscribe and Unsubscribe a
// role's literal ACL for the exact filter comes before its pattern ACLs.
// When no ACL matches, a default access of true allows (except for topics
// starting with "$CONTROL") and false defers. A username that is not a
// dynsec client defers. clientID is not used: dynsec 2.0 has no %c or %u
// substitutions.
//
// The broker applies its own rules first, as Mosquitto does: bridges are
// never checked, nobody writes to $SYS (except bridge status topics) or
// publishes to $share, and a check that every plugin defers is refused.
func (s *Security) Authorize(clientID, username string, hasUsername bool, topic string, access Access) Result {
	return s.view.Load().authorize(cString(username), hasUsername && username != "", cString(topic), access)
}

// Handle serves one request published to Topic by a client (whose id and
// username it logs) and returns the response to publish on ResponseTopic,
// and the clients to disconnect because their rights changed. Mosquitto
// disconnects them first, then publishes the response, QoS 0 and not
// retained, to every subscriber of ResponseTopic whose ACL allows it
// (mosquitto_broker_publish). The request's PUBLISH is acknowledged as a
// success and routed to nobody.
//
// When Handle returns, the changes are in force and saved to the file,
// once per request (Mosquitto 2.0.11 saves after every command of a
// request; the file ends the same). If saving fails, the changes stay in
// force, as in Mosquitto, the error is logged, and saving is tried again
// at the next request.
func (s *Security) Handle(clientID, username string, payload []byte) (response []byte, kick []Kick) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &request{
		m:         s.model,
		log:       s.log.With("admin_clientid", clientID, "admin_username", username),
		responses: jsonArr(),
	}
	r.run(payload)
	if r.changed {
		s.view.Store(compile(s.model))
	}
	if r.save {
		s.version = nextVersion(s.version)
	}
	if r.save || s.unsaved {
		s.save()
	}
	return jsonObj().set("responses", r.responses).marshal(false), r.kicks
}

package config

// Bridge is a `connection` block: a link to another broker, run by
// package bridge.
type Bridge struct {
	Name      string
	Addresses []BridgeAddress
	Topics    []BridgeTopic

	ProtocolVersion   string // "mqttv311" (default), "mqttv31" or "mqttv50"
	TryPrivate        bool   // true
	CleanSession      bool   // false
	LocalCleanSession *bool  // nil = same as CleanSession
	// RemoteClientID is "" unless set; the effective default is
	// "<hostname>.<name>" (see EffectiveRemoteClientID).
	RemoteClientID string
	LocalClientID  string // "" = "local." + the remote client id
	RemoteUsername string
	RemotePassword string
	LocalUsername  string
	LocalPassword  string

	KeepaliveInterval int // seconds; 60, at least 5
	// RestartTimeout is a constant reconnect delay in seconds; 0 means the
	// decorrelated-jitter backoff between BackoffBase and BackoffCap.
	RestartTimeout int
	BackoffBase    int // 5
	BackoffCap     int // 30
	RoundRobin     bool
	StartType      string // "automatic" (default), "lazy" or "once"
	IdleTimeout    int    // 60 seconds (lazy)
	Threshold      int    // 10 queued messages (lazy)

	Notifications          bool   // true
	NotificationsLocalOnly bool   // false
	NotificationTopic      string // "" = $SYS/broker/connection/<remote client id>/state

	AttemptUnsubscribe bool // true
	OutgoingRetain     bool // true
	MaxPacketSize      int  // 0 = unlimited
	BindAddress        string

	// TLS towards the remote broker. Certificate and PSK modes exclude each other.
	CAFile      string
	CAPath      string
	CertFile    string
	KeyFile     string
	Insecure    bool
	ALPN        string
	TLSVersion  string // "" = tlsv1.2
	RequireOCSP bool
	Identity    string // PSK identity
	PSK         string // hex key
	Ciphers     string // 2.1
	Ciphers13   string // 2.1
	UseOSCerts  bool   // 2.1 bridge_tls_use_os_certs

	// 2.1 additions.
	ReloadType            string // "lazy" (default) or "immediate"
	SessionExpiryInterval int
	ReceiveMaximum        int // 0 = not sent
	MaxTopicAlias         int // 0: no topic aliases, as Mosquitto 2.0
	TCPKeepaliveIdle      int // 0 = system default
	TCPKeepaliveInterval  int
	TCPKeepaliveCount     int
	TCPUserTimeout        int // -1 = system default

	File string // where the `connection` line is
	Line int
}

// BridgeAddress is one remote broker address.
type BridgeAddress struct {
	Host string
	Port int // 1883 when not given
}

// BridgeTopic is one `topic pattern [direction [qos [local-prefix remote-prefix]]]` line.
type BridgeTopic struct {
	Pattern      string // "" for the `""` placeholder
	Direction    string // "out" (default), "in" or "both"
	QoS          int
	LocalPrefix  string
	RemotePrefix string
}

// LocalTopic is the topic (filter) on the local broker.
func (t BridgeTopic) LocalTopic() string { return t.LocalPrefix + t.Pattern }

// RemoteTopic is the topic (filter) on the remote broker.
func (t BridgeTopic) RemoteTopic() string { return t.RemotePrefix + t.Pattern }

// EffectiveRemoteClientID is remote_clientid, or Mosquitto's default
// "<hostname>.<connection name>".
func (b *Bridge) EffectiveRemoteClientID(hostname string) string {
	if b.RemoteClientID != "" {
		return b.RemoteClientID
	}
	return hostname + "." + b.Name
}

// EffectiveLocalClientID is local_clientid, or "local." + the remote client id.
func (b *Bridge) EffectiveLocalClientID(hostname string) string {
	if b.LocalClientID != "" {
		return b.LocalClientID
	}
	return "local." + b.EffectiveRemoteClientID(hostname)
}

func newBridge(name string) *Bridge {
	return &Bridge{
		Name:               name,
		ProtocolVersion:    "mqttv311",
		TryPrivate:         true,
		KeepaliveInterval:  60,
		BackoffBase:        5,
		BackoffCap:         30,
		StartType:          "automatic",
		IdleTimeout:        60,
		Threshold:          10,
		Notifications:      true,
		AttemptUnsubscribe: true,
		OutgoingRetain:     true,
		ReloadType:         "lazy",
		TCPUserTimeout:     -1,
	}
}

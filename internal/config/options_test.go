package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Scopes for option rows: what the option line is appended to.
const (
	global   = ""
	inListen = "listener 1883\n"
	inBridge = "listener 1883\nconnection b\naddress 192.0.2.1\ntopic a\n"
)

func lst(c *Config) *Listener { return c.Listeners[0] }
func brg(c *Config) *Bridge   { return c.Bridges[0] }

// optionRows has at least one row per option: the line is parsed after its
// scope's preamble, get reads the field it sets, want is the value expected,
// and def the value when the line is absent.
var optionRows = []struct {
	scope, line string
	get         func(*Config) any
	want, def   any
}{
	// listeners
	{global, "listener 1884", func(c *Config) any { return lst(c).Port }, 1884, 1883},
	{global, "port 1885", func(c *Config) any { return lst(c).Port }, 1885, 1883},
	{global, "bind_address 10.0.0.1", func(c *Config) any { return lst(c).BindAddress }, "10.0.0.1", "127.0.0.1"},
	{inListen, "socket_domain ipv6", func(c *Config) any { return lst(c).SocketDomain }, "ipv6", ""},
	{inListen, "max_connections 10", func(c *Config) any { return lst(c).MaxConnections }, 10, -1},
	{inListen, "max_connections -5", func(c *Config) any { return lst(c).MaxConnections }, -1, -1},
	{inListen, "mount_point tenant/", func(c *Config) any { return lst(c).MountPoint }, "tenant/", ""},
	{inListen, "max_qos 1", func(c *Config) any { return lst(c).MaxQoS }, 1, 2},
	{inListen, "maximum_qos 0", func(c *Config) any { return lst(c).MaxQoS }, 0, 2},
	{inListen, "max_topic_alias 0", func(c *Config) any { return lst(c).MaxTopicAlias }, 0, 10},
	{inListen, "max_topic_alias_broker 7", func(c *Config) any { return lst(c).MaxTopicAliasBroker }, 7, 0},
	{inListen, "use_username_as_clientid true", func(c *Config) any { return lst(c).UseUsernameAsClientID }, true, false},
	{inListen, "protocol websockets", func(c *Config) any { return lst(c).Protocol }, "websockets", "mqtt"},
	{inListen, "bind_interface eth0", func(c *Config) any { return lst(c).BindInterface }, "eth0", ""},
	{inListen, "http_dir /srv/www", func(c *Config) any { return lst(c).HTTPDir }, "/srv/www", ""},
	{inListen, "accept_protocol_versions 5, 4", func(c *Config) any { return lst(c).AcceptProtocolVersions }, []int{4, 5}, []int(nil)},
	{inListen, "enable_proxy_protocol 2", func(c *Config) any { return lst(c).EnableProxyProtocol }, 2, 0},
	{inListen, "proxy_protocol_v2_require_tls true", func(c *Config) any { return lst(c).ProxyProtocolV2RequireTLS }, true, false},
	{inListen, "websockets_origin https://a.example", func(c *Config) any { return lst(c).WebsocketsOrigins }, []string{"https://a.example"}, []string(nil)},
	{inListen, "plugin_use auth1", func(c *Config) any { return lst(c).PluginUse }, []string{"auth1"}, []string(nil)},

	// listener TLS
	{inListen, "cafile /etc/ca.pem", func(c *Config) any { return lst(c).TLS.CAFile }, "/etc/ca.pem", ""},
	{inListen, "capath /etc/ca", func(c *Config) any { return lst(c).TLS.CAPath }, "/etc/ca", ""},
	{inListen, "certfile /c.pem\nkeyfile /k.pem", func(c *Config) any { return lst(c).TLS.CertFile + " " + lst(c).TLS.KeyFile }, "/c.pem /k.pem", " "},
	{inListen, "keyfile /k.pem\ncertfile /c.pem", func(c *Config) any { return lst(c).TLS.Enabled() }, true, false},
	{inListen, "ciphers ECDHE-RSA-AES256-GCM-SHA384", func(c *Config) any { return lst(c).TLS.Ciphers }, "ECDHE-RSA-AES256-GCM-SHA384", ""},
	{inListen, "ciphers_tls1.3 TLS_AES_256_GCM_SHA384", func(c *Config) any { return lst(c).TLS.Ciphers13 }, "TLS_AES_256_GCM_SHA384", ""},
	{inListen, "crlfile /crl.pem", func(c *Config) any { return lst(c).TLS.CRLFile }, "/crl.pem", ""},
	{inListen, "dhparamfile /dh.pem", func(c *Config) any { return lst(c).TLS.DHParamFile }, "/dh.pem", ""},
	{inListen, "psk_hint hint one", func(c *Config) any { return lst(c).TLS.PSKHint }, "hint one", ""},
	{inListen, "tls_engine pkcs11", func(c *Config) any { return lst(c).TLS.TLSEngine }, "pkcs11", ""},
	{inListen, "tls_engine_kpass_sha1 0123456789abcdef0123456789ABCDEF01234567", func(c *Config) any { return lst(c).TLS.TLSEngineKpassSHA1 }, "0123456789abcdef0123456789ABCDEF01234567", ""},
	{inListen, "tls_keyform engine", func(c *Config) any { return lst(c).TLS.TLSKeyform }, "engine", "pem"},
	{inListen, "tls_version tlsv1.3", func(c *Config) any { return lst(c).TLS.TLSVersion }, "tlsv1.3", ""},
	{inListen, "require_certificate true", func(c *Config) any { return lst(c).TLS.RequireCertificate }, true, false},
	{inListen, "use_identity_as_username 1", func(c *Config) any { return lst(c).TLS.UseIdentityAsUsername }, true, false},
	{inListen, "use_subject_as_username true", func(c *Config) any { return lst(c).TLS.UseSubjectAsUsername }, true, false},
	{inListen, "disable_client_cert_date_checks true", func(c *Config) any { return lst(c).TLS.DisableClientCertDateChecks }, true, false},

	// security, global (per_listener_settings false)
	{global, "per_listener_settings true", func(c *Config) any { return c.PerListenerSettings }, true, false},
	{global, "allow_anonymous false", func(c *Config) any { return *c.Security.AllowAnonymous }, false, nil},
	{global, "allow_zero_length_clientid false", func(c *Config) any { return c.Security.AllowZeroLengthClientID }, false, true},
	{global, "auto_id_prefix gen-", func(c *Config) any { return c.Security.AutoIDPrefix }, "gen-", "auto-"},
	{global, "password_file /etc/pw", func(c *Config) any { return c.Security.PasswordFile }, "/etc/pw", ""},
	{global, "acl_file /etc/acl", func(c *Config) any { return c.Security.ACLFile }, "/etc/acl", ""},
	{global, "psk_file /etc/psk", func(c *Config) any { return c.Security.PSKFile }, "/etc/psk", ""},
	{global, "plugin /lib/p.so", func(c *Config) any { return c.Security.Plugins[0].Path }, "/lib/p.so", nil},
	{global, "auth_plugin /lib/old.so", func(c *Config) any { return c.Security.Plugins[0].Path }, "/lib/old.so", nil},
	{global, "global_plugin /lib/g.so", func(c *Config) any { return c.Security.Plugins[0].Path }, "/lib/g.so", nil},
	{global, "plugin_load dynsec /lib/d.so", func(c *Config) any { return c.Security.Plugins[0].Name + "=" + c.Security.Plugins[0].Path }, "dynsec=/lib/d.so", nil},
	{global, "plugin /p.so\nplugin_opt_config_file /d.json", func(c *Config) any { return c.Security.Plugins[0].Options }, []PluginOption{{"config_file", "/d.json"}}, nil},
	{global, "plugin /p.so\nauth_opt_db_host  db # x ", func(c *Config) any { return c.Security.Plugins[0].Options }, []PluginOption{{"db_host", "db # x"}}, nil},
	{global, "plugin /p.so\nauth_plugin_deny_special_chars false", func(c *Config) any { return c.Security.Plugins[0].DenySpecialChars }, false, nil},
	{global, "plugin /p.so", func(c *Config) any { return c.Security.Plugins[0].DenySpecialChars }, true, nil},

	// limits and behaviour
	{global, "max_keepalive 120", func(c *Config) any { return c.MaxKeepalive }, 120, 0},
	{global, "sys_interval 0", func(c *Config) any { return c.SysInterval }, 0, 10},
	{global, "max_inflight_messages 1", func(c *Config) any { return c.MaxInflightMessages }, 1, 20},
	{global, "max_inflight_messages 65535", func(c *Config) any { return c.MaxInflightMessages }, 0, 20},
	{global, "max_inflight_messages -3", func(c *Config) any { return c.MaxInflightMessages }, 0, 20},
	{global, "max_inflight_bytes 4096", func(c *Config) any { return c.MaxInflightBytes }, 4096, 0},
	{global, "max_queued_messages 0", func(c *Config) any { return c.MaxQueuedMessages }, 0, 1000},
	{global, "max_queued_messages -1", func(c *Config) any { return c.MaxQueuedMessages }, 0, 1000},
	{global, "max_queued_bytes 100000", func(c *Config) any { return c.MaxQueuedBytes }, 100000, 0},
	{global, "message_size_limit 1024", func(c *Config) any { return c.MessageSizeLimit }, 1024, 0},
	{global, "max_packet_size 20", func(c *Config) any { return c.MaxPacketSize }, 20, 0},
	{global, "persistent_client_expiration 2m", func(c *Config) any { return c.PersistentClientExpiration }, 60 * 24 * time.Hour, time.Duration(0)},
	{global, "persistent_client_expiration 1y", func(c *Config) any { return c.PersistentClientExpiration }, 365 * 24 * time.Hour, time.Duration(0)},
	{global, "persistent_client_expiration 3h", func(c *Config) any { return c.PersistentClientExpiration }, 3 * time.Hour, time.Duration(0)},
	{global, "persistent_client_expiration 2w", func(c *Config) any { return c.PersistentClientExpiration }, 14 * 24 * time.Hour, time.Duration(0)},
	{global, "persistent_client_expiration 14d", func(c *Config) any { return c.PersistentClientExpiration }, 14 * 24 * time.Hour, time.Duration(0)},
	{global, "retain_available false", func(c *Config) any { return c.RetainAvailable }, false, true},
	{global, "queue_qos0_messages true", func(c *Config) any { return c.QueueQoS0Messages }, true, false},
	{global, "upgrade_outgoing_qos true", func(c *Config) any { return c.UpgradeOutgoingQoS }, true, false},
	{global, "set_tcp_nodelay false", func(c *Config) any { return c.SetTCPNoDelay }, false, true},
	{global, "check_retain_source false", func(c *Config) any { return c.CheckRetainSource }, false, true},
	{global, "connection_messages false", func(c *Config) any { return c.ConnectionMessages }, false, true},
	{global, "allow_duplicate_messages true", func(c *Config) any { return c.AllowDuplicateMessages }, true, false},
	{global, "retry_interval 20", func(c *Config) any { return len(c.Warnings) }, 0, 0},
	{global, "clientid_prefixes secure-", func(c *Config) any { return c.ClientIDPrefixes }, "secure-", ""},
	{global, "memory_limit 1073741824", func(c *Config) any { return c.MemoryLimit }, int64(1 << 30), int64(0)},
	{global, "global_max_clients 100", func(c *Config) any { return c.GlobalMaxClients }, 100, -1},
	{global, "global_max_connections 200", func(c *Config) any { return c.GlobalMaxConnections }, 200, -1},
	{global, "enable_control_api true", func(c *Config) any { return c.EnableControlAPI }, true, false},
	{global, "websockets_log_level 255", func(c *Config) any { return c.WebsocketsLogLevel }, 255, 0},
	{global, "websockets_headers_size 4096", func(c *Config) any { return c.WebsocketsHeadersSize }, 4096, 0},

	// persistence and process
	{global, "persistence true", func(c *Config) any { return c.Persistence }, true, false},
	{global, "retained_persistence true", func(c *Config) any { return c.Persistence }, true, false},
	{global, "persistence_file m.db", func(c *Config) any { return c.PersistenceFile }, "m.db", "mosquitto.db"},
	{global, "persistence_location /var/lib/mosquitto/", func(c *Config) any { return c.PersistenceLocation }, "/var/lib/mosquitto/", ""},
	{global, "autosave_interval 60", func(c *Config) any { return c.AutosaveInterval }, 60, 1800},
	{global, "autosave_interval -60", func(c *Config) any { return c.AutosaveInterval }, 0, 1800},
	{global, "autosave_on_changes true", func(c *Config) any { return c.AutosaveOnChanges }, true, false},
	{global, "pid_file /run/m.pid", func(c *Config) any { return c.PidFile }, "/run/m.pid", ""},
	{global, "user nobody", func(c *Config) any { return c.User }, "nobody", "mosquitto"},

	// logging
	{global, "log_dest stdout", func(c *Config) any { return c.LogDest }, []string{"stdout"}, []string{"stderr"}},
	{global, "log_dest file /var/log/m.log", func(c *Config) any { return c.LogFile }, "/var/log/m.log", ""},
	{global, "log_dest syslog\nlog_dest topic\nlog_dest dlt", func(c *Config) any { return c.LogDest }, []string{"syslog", "topic", "dlt"}, []string{"stderr"}},
	{global, "log_dest stderr\nlog_dest none", func(c *Config) any { return c.LogDest }, []string(nil), []string{"stderr"}},
	{global, "log_type debug\nlog_type subscribe", func(c *Config) any { return c.LogTypes }, []string{"debug", "subscribe"}, []string{"error", "warning", "notice", "information"}},
	{global, "log_type all", func(c *Config) any { return len(c.LogTypes) }, 9, 4},
	{global, "log_type none", func(c *Config) any { return c.LogTypes }, []string(nil), []string{"error", "warning", "notice", "information"}},
	{global, "log_timestamp false", func(c *Config) any { return c.LogTimestamp }, false, true},
	{global, "log_timestamp_format %Y-%m-%dT%H:%M:%S", func(c *Config) any { return c.LogTimestampFormat }, "%Y-%m-%dT%H:%M:%S", ""},
	{global, "log_facility 5", func(c *Config) any { return c.LogFacility }, 5, -1},

	// bridges
	{global, "connection up\naddress 192.0.2.1:8883 192.0.2.2\ntopic #", func(c *Config) any { return brg(c).Addresses }, []BridgeAddress{{"192.0.2.1", 8883}, {"192.0.2.2", 1883}}, nil},
	{global, "connection up\naddresses [::1]:1884 # comment\ntopic #", func(c *Config) any { return brg(c).Addresses }, []BridgeAddress{{"::1", 1884}}, nil},
	{global, "connection up\naddress h\ntopic a/# both 2 l/ r/", func(c *Config) any { return brg(c).Topics }, []BridgeTopic{{"a/#", "both", 2, "l/", "r/"}}, nil},
	{inBridge, "bridge_protocol_version mqttv50", func(c *Config) any { return brg(c).ProtocolVersion }, "mqttv50", "mqttv311"},
	{inBridge, "start_type lazy", func(c *Config) any { return brg(c).StartType }, "lazy", "automatic"},
	{inBridge, "bridge_reload_type immediate", func(c *Config) any { return brg(c).ReloadType }, "immediate", "lazy"},
	{inBridge, "restart_timeout 20", func(c *Config) any { return brg(c).RestartTimeout }, 20, 0},
	{inBridge, "restart_timeout 10 60", func(c *Config) any { return [2]int{brg(c).BackoffBase, brg(c).BackoffCap} }, [2]int{10, 60}, [2]int{5, 30}},
	{inBridge, "keepalive_interval 2", func(c *Config) any { return brg(c).KeepaliveInterval }, 5, 60},
	{inBridge, "bridge_tcp_keepalive 60 10 3", func(c *Config) any {
		return [3]int{brg(c).TCPKeepaliveIdle, brg(c).TCPKeepaliveInterval, brg(c).TCPKeepaliveCount}
	}, [3]int{60, 10, 3}, [3]int{}},
	{inBridge, "local_cleansession true", func(c *Config) any { return brg(c).LocalCleanSession != nil && *brg(c).LocalCleanSession }, true, false},
	{inBridge, "try_private false", func(c *Config) any { return brg(c).TryPrivate }, false, true},
	{inBridge, "cleansession true", func(c *Config) any { return brg(c).CleanSession }, true, false},
	{inBridge, "round_robin true", func(c *Config) any { return brg(c).RoundRobin }, true, false},
	{inBridge, "notifications false", func(c *Config) any { return brg(c).Notifications }, false, true},
	{inBridge, "notifications_local_only true", func(c *Config) any { return brg(c).NotificationsLocalOnly }, true, false},
	{inBridge, "bridge_attempt_unsubscribe false", func(c *Config) any { return brg(c).AttemptUnsubscribe }, false, true},
	{inBridge, "bridge_outgoing_retain false", func(c *Config) any { return brg(c).OutgoingRetain }, false, true},
	{inBridge, "bridge_insecure true", func(c *Config) any { return brg(c).Insecure }, true, false},
	{inBridge, "bridge_require_ocsp true", func(c *Config) any { return brg(c).RequireOCSP }, true, false},
	{inBridge, "bridge_tls_use_os_certs true", func(c *Config) any { return brg(c).UseOSCerts }, true, false},
	{inBridge, "remote_clientid r1", func(c *Config) any { return brg(c).RemoteClientID }, "r1", ""},
	{inBridge, "clientid r2", func(c *Config) any { return brg(c).RemoteClientID }, "r2", ""},
	{inBridge, "local_clientid l1", func(c *Config) any { return brg(c).LocalClientID }, "l1", ""},
	{inBridge, "remote_username ru", func(c *Config) any { return brg(c).RemoteUsername }, "ru", ""},
	{inBridge, "username ru2", func(c *Config) any { return brg(c).RemoteUsername }, "ru2", ""},
	{inBridge, "remote_password rp", func(c *Config) any { return brg(c).RemotePassword }, "rp", ""},
	{inBridge, "password rp2", func(c *Config) any { return brg(c).RemotePassword }, "rp2", ""},
	{inBridge, "local_username lu", func(c *Config) any { return brg(c).LocalUsername }, "lu", ""},
	{inBridge, "local_password lp", func(c *Config) any { return brg(c).LocalPassword }, "lp", ""},
	{inBridge, "notification_topic n/t", func(c *Config) any { return brg(c).NotificationTopic }, "n/t", ""},
	{inBridge, "bridge_bind_address 10.1.1.1", func(c *Config) any { return brg(c).BindAddress }, "10.1.1.1", ""},
	{inBridge, "bridge_alpn mqtt", func(c *Config) any { return brg(c).ALPN }, "mqtt", ""},
	{inBridge, "bridge_ciphers HIGH", func(c *Config) any { return brg(c).Ciphers }, "HIGH", ""},
	{inBridge, "bridge_ciphers_tls1.3 TLS_AES_128_GCM_SHA256", func(c *Config) any { return brg(c).Ciphers13 }, "TLS_AES_128_GCM_SHA256", ""},
	{inBridge, "bridge_cafile /ca.pem", func(c *Config) any { return brg(c).CAFile }, "/ca.pem", ""},
	{inBridge, "bridge_capath /ca", func(c *Config) any { return brg(c).CAPath }, "/ca", ""},
	{inBridge, "bridge_certfile /c.pem", func(c *Config) any { return brg(c).CertFile }, "/c.pem", ""},
	{inBridge, "bridge_keyfile /k.pem", func(c *Config) any { return brg(c).KeyFile }, "/k.pem", ""},
	{inBridge, "bridge_identity id\nbridge_psk 0a0b", func(c *Config) any { return brg(c).Identity + ":" + brg(c).PSK }, "id:0a0b", ":"},
	{inBridge, "bridge_tls_version tlsv1.3", func(c *Config) any { return brg(c).TLSVersion }, "tlsv1.3", ""},
	{inBridge, "idle_timeout 0", func(c *Config) any { return brg(c).IdleTimeout }, 1, 60},
	{inBridge, "threshold 50", func(c *Config) any { return brg(c).Threshold }, 50, 10},
	{inBridge, "bridge_max_packet_size 1000", func(c *Config) any { return brg(c).MaxPacketSize }, 1000, 0},
	{inBridge, "bridge_receive_maximum 100", func(c *Config) any { return brg(c).ReceiveMaximum }, 100, 0},
	{inBridge, "bridge_max_topic_alias 12", func(c *Config) any { return brg(c).MaxTopicAlias }, 12, 0},
	{inBridge, "bridge_session_expiry_interval 3600", func(c *Config) any { return brg(c).SessionExpiryInterval }, 3600, 0},
	{inBridge, "bridge_tcp_user_timeout 5000", func(c *Config) any { return brg(c).TCPUserTimeout }, 5000, -1},

	// admin listener
	{global, "admin_listener 127.0.0.1:9883\nadmin_allow_anonymous true", func(c *Config) any { return c.Admin.Listen }, "127.0.0.1:9883", ""},
	{global, "admin_listener 10.0.0.1:9883\nadmin_password_file a.passwd", func(c *Config) any { return c.Admin.PasswordFile }, "a.passwd", ""},
	{global, "admin_listener 10.0.0.1:9883\nadmin_token_file tokens", func(c *Config) any { return c.Admin.TokenFile }, "tokens", ""},
	{global, "admin_listener 10.0.0.1:9883\nadmin_token_file t\nadmin_certfile c.pem\nadmin_keyfile k.pem", func(c *Config) any { return c.Admin.CertFile + " " + c.Admin.KeyFile }, "c.pem k.pem", " "},
	{global, "persistence_sync interval 20", func(c *Config) any { return c.PersistenceSync }, 20, 0},
	{global, "persistence_sync always", func(c *Config) any { return c.PersistenceSync }, 0, 0},
	// token and HTTP authentication
	{global, "jwt_key a.pem\njwt_key b.json", func(c *Config) any { return c.Security.JWT.Keys }, []string{"a.pem", "b.json"}, []string(nil)},
	{global, "jwt_jwks_url https://id.example.com/jwks", func(c *Config) any { return c.Security.JWT.JWKSURL }, "https://id.example.com/jwks", ""},
	{global, "jwt_jwks_refresh 60", func(c *Config) any { return c.Security.JWT.JWKSRefresh }, 60, 300},
	{global, "jwt_secret_file hs.key", func(c *Config) any { return c.Security.JWT.SecretFile }, "hs.key", ""},
	{global, "jwt_issuer https://id.example.com/", func(c *Config) any { return c.Security.JWT.Issuer }, "https://id.example.com/", ""},
	{global, "jwt_audience mqtt", func(c *Config) any { return c.Security.JWT.Audience }, "mqtt", ""},
	{global, "jwt_username_claim email", func(c *Config) any { return c.Security.JWT.UsernameClaim }, "email", "sub"},
	{global, "jwt_acl_claim acl", func(c *Config) any { return c.Security.JWT.ACLClaim }, "acl", ""},
	{global, "jwt_require_exp false", func(c *Config) any { return c.Security.JWT.RequireExpiry }, false, true},
	{global, "jwt_leeway 5", func(c *Config) any { return c.Security.JWT.Leeway }, 5, 0},
	{global, "http_auth_user_url http://127.0.0.1:8080/user", func(c *Config) any { return c.Security.HTTPAuth.UserURL }, "http://127.0.0.1:8080/user", ""},
	{global, "http_auth_acl_url http://127.0.0.1:8080/acl", func(c *Config) any { return c.Security.HTTPAuth.ACLURL }, "http://127.0.0.1:8080/acl", ""},
	{global, "http_auth_superuser_url http://127.0.0.1:8080/su", func(c *Config) any { return c.Security.HTTPAuth.SuperuserURL }, "http://127.0.0.1:8080/su", ""},
	{global, "http_auth_params form", func(c *Config) any { return c.Security.HTTPAuth.Params }, "form", "json"},
	{global, "http_auth_response json", func(c *Config) any { return c.Security.HTTPAuth.Response }, "json", "status"},
	{global, "http_auth_timeout 2", func(c *Config) any { return c.Security.HTTPAuth.Timeout }, 2, 5},
	{global, "http_auth_cache_seconds 0", func(c *Config) any { return c.Security.HTTPAuth.CacheSeconds }, 0, 30},
	{global, "http_auth_cafile ca.pem", func(c *Config) any { return c.Security.HTTPAuth.CAFile }, "ca.pem", ""},
	// cluster
	{global, "cluster_name eu\ncluster_listen 0.0.0.0:7422", func(c *Config) any { return c.Cluster.Name + " " + c.Cluster.Listen }, "eu 0.0.0.0:7422", " "},
	{global, "cluster_name eu\ncluster_node_name n1\ncluster_listen :7422", func(c *Config) any { return c.Cluster.NodeName }, "n1", ""},
	{global, "cluster_name eu\ncluster_listen :7422\ncluster_peer 10.0.0.2:7422\ncluster_peer 10.0.0.3:7422", func(c *Config) any { return c.Cluster.Peers }, []string{"10.0.0.2:7422", "10.0.0.3:7422"}, []string(nil)},
	{global, "cluster_name eu\ncluster_listen :7422\ncluster_quorum 3", func(c *Config) any { return c.Cluster.Quorum }, 3, 0},
	{global, "cluster_name eu\ncluster_listen :7422\ncluster_replicas 2", func(c *Config) any { return c.Cluster.Replicas }, 2, 0},
	{global, "cluster_name eu\ncluster_nats_url nats://10.0.0.9:4222", func(c *Config) any { return c.Cluster.NATSURL }, "nats://10.0.0.9:4222", ""},
	{global, "cluster_name eu\ncluster_listen :7422\ncluster_tls_cafile ca.pem\ncluster_tls_certfile c.pem\ncluster_tls_keyfile k.pem", func(c *Config) any { return c.Cluster.CAFile + " " + c.Cluster.CertFile + " " + c.Cluster.KeyFile }, "ca.pem c.pem k.pem", "  "},
	{global, "per_listener_settings true\nlistener 1884\njwt_key k.pem", func(c *Config) any { return lst(c).Security.JWT.Keys }, []string{"k.pem"}, nil},
}

func TestOptions(t *testing.T) {
	for _, row := range optionRows {
		t.Run(strings.ReplaceAll(row.line, "\n", "|"), func(t *testing.T) {
			c := parse(t, row.scope+row.line+"\n")
			if got := row.get(c); !reflect.DeepEqual(got, row.want) {
				t.Errorf("got %#v, want %#v", got, row.want)
			}
			if row.def == nil {
				return
			}
			base := row.scope
			if base == "" {
				base = "listener 1883\n"
				if strings.HasPrefix(row.line, "bind_address") {
					base = "" // local-only: the loopback listener is first
				}
			}
			if got := row.get(parse(t, base)); !reflect.DeepEqual(got, row.def) {
				t.Errorf("default: got %#v, want %#v", got, row.def)
			}
		})
	}
}

// TestEveryOptionHasARow keeps the table above complete as options are added.
func TestEveryOptionHasARow(t *testing.T) {
	covered := map[string]bool{}
	for _, row := range optionRows {
		for _, ln := range strings.Split(row.line, "\n") {
			name, _, _ := strings.Cut(ln, " ")
			if strings.HasPrefix(name, "plugin_opt_") || strings.HasPrefix(name, "auth_opt_") {
				name = name[:strings.Index(name, "opt_")+4] + "*"
			}
			covered[name] = true
		}
	}
	covered["include_dir"] = true // needs a directory: see include_test.go
	for name := range optionTable() {
		if !covered[name] {
			t.Errorf("option %q has no row in optionRows", name)
		}
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if !c.LocalOnly || c.File != "" {
		t.Errorf("LocalOnly=%v File=%q", c.LocalOnly, c.File)
	}
	var addrs []string
	for _, l := range c.Listeners {
		addrs = append(addrs, listenerName(l))
	}
	if want := []string{"127.0.0.1:1883", "::1:1883"}; !reflect.DeepEqual(addrs, want) {
		t.Errorf("listeners %v, want %v", addrs, want)
	}
	// Parsing an empty file gives the same configuration.
	p := parse(t, "")
	p.File = ""
	if !reflect.DeepEqual(c, p) {
		t.Errorf("Default() = %+v\nempty file = %+v", c, p)
	}
	if c.SysInterval != 10 || c.MaxInflightMessages != 20 || c.MaxQueuedMessages != 1000 || c.AutosaveInterval != 1800 ||
		c.User != "mosquitto" || c.PersistenceFile != "mosquitto.db" || !c.LogTimestamp || !c.RetainAvailable {
		t.Errorf("defaults wrong: %+v", c)
	}
}

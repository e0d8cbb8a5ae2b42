package config

import "maps"

// option is one entry of the option table.
type option struct {
	apply func(*call) error

	// implemented is true when the broker acts on the option. Options that
	// are parsed and kept but not acted on yet produce a warning per use;
	// flipping this flag is all it takes once the broker honours them.
	implemented bool

	// honoured, for an option that is not implemented, reports whether this
	// particular value is already what the broker does (e.g. `persistence
	// false`, `protocol mqtt`), so that only the other values are warned about.
	honoured func(value string) bool

	// inBridge marks options of a `connection` block; the block is warned
	// about once, at its `connection` line, rather than on every line.
	inBridge bool
}

// Constructors for table entries, by support level.
func supported(f func(*call) error) option   { return option{apply: f, implemented: true} }
func unsupported(f func(*call) error) option { return option{apply: f} }
func partly(f func(*call) error, honoured func(string) bool) option {
	return option{apply: f, honoured: honoured}
}
func bridgeOpt(f func(*call) error) option { return option{apply: f, inBridge: true} }

// isFalse is the honoured test for boolean options that default to off.
func isFalse(v string) bool { b, ok := parseBool(firstWord(v)); return ok && !b }

func firstWord(v string) string {
	f := fields{s: v}
	w, _ := f.word()
	return w
}

// optionTable maps every option name Mosquitto 2.0 (and 2.1) accepts to its
// handler and support level. It is built afresh for each parse and never
// modified, so there is no shared mutable state.
//
// Listener options apply to the current listener (the default listener
// before the first `listener` of a file); security options go to the
// current listener with per_listener_settings and to the global settings
// otherwise; bridge options need a `connection` earlier in the same file.
func optionTable() map[string]option {
	t := map[string]option{
		// --- include and listeners ---
		"include_dir":                   supported(applyIncludeDir),
		"listener":                      supported(applyListener),
		"port":                          supported(applyPort),
		"bind_address":                  supported(applyBindAddress),
		"socket_domain":                 supported(applySocketDomain),
		"max_connections":               supported(applyMaxConnections),
		"mount_point":                   supported(applyMountPoint),
		"max_qos":                       supported(listenerIntIn(func(l *Listener) *int { return &l.MaxQoS }, 0, 2)),
		"maximum_qos":                   supported(listenerIntIn(func(l *Listener) *int { return &l.MaxQoS }, 0, 2)),
		"max_topic_alias":               supported(listenerIntIn(func(l *Listener) *int { return &l.MaxTopicAlias }, 0, 65535)),
		"use_username_as_clientid":      supported(listenerBool(func(l *Listener) *bool { return &l.UseUsernameAsClientID })),
		"protocol":                      supported(applyProtocol),
		"bind_interface":                supported(listenerString(func(l *Listener) *string { return &l.BindInterface })),
		"http_dir":                      supported(listenerString(func(l *Listener) *string { return &l.HTTPDir })),
		"max_topic_alias_broker":        unsupported(listenerIntIn(func(l *Listener) *int { return &l.MaxTopicAliasBroker }, 0, 65535)),
		"accept_protocol_versions":      unsupported(applyAcceptProtocolVersions),
		"enable_proxy_protocol":         supported(applyEnableProxyProtocol),
		"proxy_protocol_v2_require_tls": partly(listenerBool(func(l *Listener) *bool { return &l.ProxyProtocolV2RequireTLS }), isFalse),
		"websockets_origin":             supported(applyWebsocketsOrigin),
		"plugin_use":                    unsupported(applyPluginUse),

		// --- listener TLS ---
		"cafile":                          supported(applyCertOption(func(t *TLS) *string { return &t.CAFile })),
		"certfile":                        supported(applyCertOption(func(t *TLS) *string { return &t.CertFile })),
		"capath":                          supported(tlsString(func(t *TLS) *string { return &t.CAPath })),
		"keyfile":                         supported(tlsString(func(t *TLS) *string { return &t.KeyFile })),
		"ciphers":                         supported(tlsString(func(t *TLS) *string { return &t.Ciphers })),
		"ciphers_tls1.3":                  supported(tlsString(func(t *TLS) *string { return &t.Ciphers13 })),
		"crlfile":                         supported(tlsString(func(t *TLS) *string { return &t.CRLFile })),
		"dhparamfile":                     supported(tlsString(func(t *TLS) *string { return &t.DHParamFile })),
		"psk_hint":                        supported(tlsString(func(t *TLS) *string { return &t.PSKHint })),
		"tls_engine":                      supported(tlsString(func(t *TLS) *string { return &t.TLSEngine })),
		"tls_engine_kpass_sha1":           supported(applyTLSEngineKpass),
		"tls_keyform":                     supported(applyTLSKeyform),
		"tls_version":                     supported(applyTLSVersion),
		"require_certificate":             supported(tlsBool(func(t *TLS) *bool { return &t.RequireCertificate })),
		"use_identity_as_username":        supported(tlsBool(func(t *TLS) *bool { return &t.UseIdentityAsUsername })),
		"use_subject_as_username":         supported(tlsBool(func(t *TLS) *bool { return &t.UseSubjectAsUsername })),
		"disable_client_cert_date_checks": partly(applyDisableCertDateChecks, isFalse),

		// --- security (follow per_listener_settings) ---
		"per_listener_settings":          supported(applyPerListenerSettings),
		"allow_anonymous":                supported(applyAllowAnonymous),
		"allow_zero_length_clientid":     supported(securityBool(func(s *Security) *bool { return &s.AllowZeroLengthClientID })),
		"auto_id_prefix":                 supported(securityString(func(s *Security) *string { return &s.AutoIDPrefix })),
		"password_file":                  supported(securityString(func(s *Security) *string { return &s.PasswordFile })),
		"acl_file":                       supported(securityString(func(s *Security) *string { return &s.ACLFile })),
		"psk_file":                       supported(securityString(func(s *Security) *string { return &s.PSKFile })),
		"plugin":                         supported(applyPlugin),
		"auth_plugin":                    supported(applyPlugin),
		"global_plugin":                  unsupported(applyGlobalPlugin),
		"plugin_load":                    unsupported(applyPluginLoad),
		"plugin_opt_*":                   supported(applyPluginOption),
		"auth_opt_*":                     supported(applyPluginOption),
		"auth_plugin_deny_special_chars": unsupported(applyDenySpecialChars),

		// --- limits and behaviour ---
		"max_keepalive":                supported(globalIntIn(func(c *Config) *int { return &c.MaxKeepalive }, 0, 65535)),
		"sys_interval":                 supported(globalIntIn(func(c *Config) *int { return &c.SysInterval }, 0, 65535)),
		"max_inflight_messages":        supported(applyMaxInflightMessages),
		"max_inflight_bytes":           supported(globalIntFloor0(func(c *Config) *int { return &c.MaxInflightBytes })),
		"max_queued_messages":          supported(globalIntFloor0(func(c *Config) *int { return &c.MaxQueuedMessages })),
		"max_queued_bytes":             supported(globalIntFloor0(func(c *Config) *int { return &c.MaxQueuedBytes })),
		"message_size_limit":           supported(globalIntIn(func(c *Config) *int { return &c.MessageSizeLimit }, 0, MaxPayload)),
		"max_packet_size":              supported(applyMaxPacketSize),
		"persistent_client_expiration": supported(applyPersistentClientExpiration),
		"retain_available":             supported(globalBool(func(c *Config) *bool { return &c.RetainAvailable })),
		"queue_qos0_messages":          supported(globalBool(func(c *Config) *bool { return &c.QueueQoS0Messages })),
		"upgrade_outgoing_qos":         supported(globalBool(func(c *Config) *bool { return &c.UpgradeOutgoingQoS })),
		"set_tcp_nodelay":              supported(globalBool(func(c *Config) *bool { return &c.SetTCPNoDelay })),
		"check_retain_source":          supported(globalBool(func(c *Config) *bool { return &c.CheckRetainSource })),
		"connection_messages":          supported(globalBool(func(c *Config) *bool { return &c.ConnectionMessages })),
		"allow_duplicate_messages":     supported(globalBool(func(c *Config) *bool { return &c.AllowDuplicateMessages })),
		"retry_interval":               supported(applyRetryInterval),
		"clientid_prefixes":            unsupported(globalString(func(c *Config) *string { return &c.ClientIDPrefixes })),
		"memory_limit":                 unsupported(applyMemoryLimit),
		"global_max_clients":           unsupported(globalInt(func(c *Config) *int { return &c.GlobalMaxClients })),
		"global_max_connections":       unsupported(globalInt(func(c *Config) *int { return &c.GlobalMaxConnections })),
		"enable_control_api":           supported(globalBool(func(c *Config) *bool { return &c.EnableControlAPI })),
		"websockets_log_level":         unsupported(globalInt(func(c *Config) *int { return &c.WebsocketsLogLevel })),
		"websockets_headers_size":      unsupported(globalIntIn(func(c *Config) *int { return &c.WebsocketsHeadersSize }, 0, 65535)),

		// --- persistence and process ---
		"persistence":          supported(globalBool(func(c *Config) *bool { return &c.Persistence })),
		"retained_persistence": supported(globalBool(func(c *Config) *bool { return &c.Persistence })),
		"persistence_file":     supported(globalString(func(c *Config) *string { return &c.PersistenceFile })),
		"persistence_location": supported(globalString(func(c *Config) *string { return &c.PersistenceLocation })),
		"autosave_interval":    supported(globalIntFloor0(func(c *Config) *int { return &c.AutosaveInterval })),
		"autosave_on_changes":  supported(globalBool(func(c *Config) *bool { return &c.AutosaveOnChanges })),
		"persistence_sync":     supported(applyPersistenceSync),
		"pid_file":             supported(globalString(func(c *Config) *string { return &c.PidFile })),
		"user":                 supported(globalString(func(c *Config) *string { return &c.User })),

		// --- logging ---
		"log_dest":             partly(applyLogDest, isBuiltinLogDest),
		"log_type":             supported(applyLogType),
		"log_timestamp":        supported(globalBool(func(c *Config) *bool { return &c.LogTimestamp })),
		"log_timestamp_format": supported(globalString(func(c *Config) *string { return &c.LogTimestampFormat })),
		"log_facility":         supported(applyLogFacility),

		// --- admin listener (midge's own) ---
		"admin_listener":        supported(applyAdminListener),
		"admin_certfile":        supported(adminString(func(a *Admin) *string { return &a.CertFile })),
		"admin_keyfile":         supported(adminString(func(a *Admin) *string { return &a.KeyFile })),
		"admin_password_file":   supported(adminString(func(a *Admin) *string { return &a.PasswordFile })),
		"admin_token_file":      supported(adminString(func(a *Admin) *string { return &a.TokenFile })),
		"admin_allow_anonymous": supported(applyAdminAllowAnonymous),

		// --- cluster (midge's own) ---
		"cluster_name":         supported(applyClusterName),
		"cluster_node_name":    supported(applyClusterNodeName),
		"cluster_listen":       supported(applyClusterListen),
		"cluster_peer":         supported(applyClusterPeer),
		"cluster_quorum":       supported(applyClusterQuorum),
		"cluster_replicas":     supported(applyClusterReplicas),
		"cluster_nats_url":     supported(clusterString(func(k *Cluster) *string { return &k.NATSURL })),
		"cluster_tls_cafile":   supported(clusterString(func(k *Cluster) *string { return &k.CAFile })),
		"cluster_tls_certfile": supported(clusterString(func(k *Cluster) *string { return &k.CertFile })),
		"cluster_tls_keyfile":  supported(clusterString(func(k *Cluster) *string { return &k.KeyFile })),

		// --- bridges ---
		"connection":                     bridgeOpt(applyConnection),
		"address":                        bridgeOpt(applyAddress),
		"addresses":                      bridgeOpt(applyAddress),
		"topic":                          bridgeOpt(applyTopic),
		"bridge_protocol_version":        bridgeOpt(applyBridgeProtocolVersion),
		"start_type":                     bridgeOpt(applyStartType),
		"bridge_reload_type":             bridgeOpt(applyReloadType),
		"restart_timeout":                bridgeOpt(applyRestartTimeout),
		"keepalive_interval":             bridgeOpt(applyKeepaliveInterval),
		"bridge_tcp_keepalive":           bridgeOpt(applyTCPKeepalive),
		"local_cleansession":             bridgeOpt(applyLocalCleanSession),
		"try_private":                    bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.TryPrivate })),
		"cleansession":                   bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.CleanSession })),
		"round_robin":                    bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.RoundRobin })),
		"notifications":                  bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.Notifications })),
		"notifications_local_only":       bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.NotificationsLocalOnly })),
		"bridge_attempt_unsubscribe":     bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.AttemptUnsubscribe })),
		"bridge_outgoing_retain":         bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.OutgoingRetain })),
		"bridge_insecure":                bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.Insecure })),
		"bridge_require_ocsp":            bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.RequireOCSP })),
		"bridge_tls_use_os_certs":        bridgeOpt(bridgeBool(func(b *Bridge) *bool { return &b.UseOSCerts })),
		"remote_clientid":                bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.RemoteClientID })),
		"clientid":                       bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.RemoteClientID })),
		"local_clientid":                 bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.LocalClientID })),
		"remote_username":                bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.RemoteUsername })),
		"username":                       bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.RemoteUsername })),
		"remote_password":                bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.RemotePassword })),
		"password":                       bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.RemotePassword })),
		"local_username":                 bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.LocalUsername })),
		"local_password":                 bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.LocalPassword })),
		"notification_topic":             bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.NotificationTopic })),
		"bridge_bind_address":            bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.BindAddress })),
		"bridge_alpn":                    bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.ALPN })),
		"bridge_ciphers":                 bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.Ciphers })),
		"bridge_ciphers_tls1.3":          bridgeOpt(bridgeString(func(b *Bridge) *string { return &b.Ciphers13 })),
		"bridge_cafile":                  bridgeOpt(bridgeCert(func(b *Bridge) *string { return &b.CAFile })),
		"bridge_capath":                  bridgeOpt(bridgeCert(func(b *Bridge) *string { return &b.CAPath })),
		"bridge_certfile":                bridgeOpt(bridgeCert(func(b *Bridge) *string { return &b.CertFile })),
		"bridge_keyfile":                 bridgeOpt(bridgeCert(func(b *Bridge) *string { return &b.KeyFile })),
		"bridge_identity":                bridgeOpt(bridgePSK(func(b *Bridge) *string { return &b.Identity })),
		"bridge_psk":                     bridgeOpt(bridgePSK(func(b *Bridge) *string { return &b.PSK })),
		"bridge_tls_version":             bridgeOpt(applyBridgeTLSVersion),
		"idle_timeout":                   bridgeOpt(bridgeIntMin(func(b *Bridge) *int { return &b.IdleTimeout }, 1)),
		"threshold":                      bridgeOpt(bridgeIntMin(func(b *Bridge) *int { return &b.Threshold }, 1)),
		"bridge_max_packet_size":         bridgeOpt(bridgeIntMin(func(b *Bridge) *int { return &b.MaxPacketSize }, 0)),
		"bridge_receive_maximum":         bridgeOpt(bridgeIntIn(func(b *Bridge) *int { return &b.ReceiveMaximum }, 1, 65535)),
		"bridge_max_topic_alias":         bridgeOpt(bridgeIntIn(func(b *Bridge) *int { return &b.MaxTopicAlias }, 0, 65535)),
		"bridge_session_expiry_interval": bridgeOpt(bridgeIntIn(func(b *Bridge) *int { return &b.SessionExpiryInterval }, 0, 1<<31-1)),
		"bridge_tcp_user_timeout":        bridgeOpt(bridgeIntIn(func(b *Bridge) *int { return &b.TCPUserTimeout }, 0, 1<<31-1)),
	}
	maps.Copy(t, tokenAuthOptions())
	return t
}

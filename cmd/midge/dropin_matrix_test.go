package main

// The matrix of the drop-in acceptance test: every action is played
// against Mosquitto and midge on the same files, and what the clients
// observe must be the same.

// Actors of the matrix. Client identifiers differ between actors that are
// connected at the same time: a duplicate identifier would take over the
// other's session.
var (
	aliceSub  = actor{via: "tcp", id: "alice-sub", user: "alice", pass: "alice-pw"}
	alicePub  = actor{via: "tcp", id: "alice-pub", user: "alice", pass: "alice-pw"}
	alice5    = actor{via: "tcp", id: "alice-v5", user: "alice", pass: "alice-pw", ver: "5"}
	bobSub    = actor{via: "tcp", id: "bob-sub", user: "bob", pass: "bob-pw"}
	bobSub5   = actor{via: "tcp", id: "bob-sub-v5", user: "bob", pass: "bob-pw", ver: "5"}
	bobPub    = actor{via: "tcp", id: "bob-pub", user: "bob", pass: "bob-pw"}
	bobPub5   = actor{via: "tcp", id: "bob-pub-v5", user: "bob", pass: "bob-pw", ver: "5"}
	opsSub    = actor{via: "tcp", id: "ops-sub", user: "ops", pass: "ops-pw"}
	opsPub    = actor{via: "tcp", id: "ops-pub", user: "ops", pass: "ops-pw"}
	anonSub   = actor{via: "tcp", id: "anon-sub"}
	anonPub   = actor{via: "tcp", id: "anon-pub"}
	anonPub5  = actor{via: "tcp", id: "anon-pub-v5", ver: "5"}
	tlsAlice  = actor{via: "tls", id: "tls-alice", cert: "alice"}
	tlsDev    = actor{via: "tls", id: "dev-7", cert: "dev-7"}
	tlsDevSub = actor{via: "tls", id: "dev-7", cert: "dev-7", ver: "5"}
	wsAlice   = actor{via: "ws", id: "ws-alice", user: "alice", pass: "alice-pw"}
	wsAlice5  = actor{via: "ws", id: "ws-alice-v5", user: "alice", pass: "alice-pw", ver: "5"}
	wsAnon    = actor{via: "ws", id: "ws-anon"}
	wsAnonSub = actor{via: "ws", id: "ws-anon-sub", ver: "5"}
)

// dropinCase is one action of the matrix: publications, optionally with a
// subscriber that watches what is delivered.
type dropinCase struct {
	name string
	// setup publications happen before the subscriber connects (retained
	// messages it should or should not get).
	setup []pubStep
	sub   *subStep
	pubs  []pubStep
	// clear are retained topics the operator empties afterwards, so that
	// later cases start from the same state on both brokers.
	clear []string
}

func probeAs(a actor) pubStep { return pubStep{by: a, topic: "probe/" + a.id, payload: "p", qos: 1} }

func sendAs(a actor, topic string) pubStep {
	return pubStep{by: a, topic: topic, payload: "from " + a.id, qos: 1}
}

func keepAs(a actor, topic string) pubStep {
	return pubStep{by: a, topic: topic, payload: "kept by " + a.id, qos: 1, retain: true}
}

func watchAs(a actor, filters ...string) *subStep { return &subStep{by: a, filters: filters} }

// connectCases check who may connect: each publishes once to a probe topic
// and the publisher's exit status and messages (the CONNACK reason) are
// compared.
func connectCases() []dropinCase {
	var cs []dropinCase
	for _, a := range []actor{
		{via: "tcp", id: "c-alice", user: "alice", pass: "alice-pw"},
		{via: "tcp", id: "c-alice", user: "alice", pass: "alice-pw", ver: "5"},
		{via: "tcp", id: "c-alice", user: "alice", pass: "alice-pw", ver: "31"},
		{via: "tcp", id: "c-alice", user: "alice", pass: "wrong"},
		{via: "tcp", id: "c-alice", user: "alice", pass: "wrong", ver: "5"},
		{via: "tcp", id: "c-alice", user: "alice", pass: "wrong", ver: "31"},
		{via: "tcp", id: "c-alice", user: "alice"},
		{via: "tcp", id: "c-alice", user: "alice", ver: "5"},
		{via: "tcp", id: "c-mallory", user: "mallory", pass: "alice-pw"},
		{via: "tcp", id: "c-mallory", user: "mallory", pass: "x", ver: "5"},
		{via: "tcp", id: "c-anon"},
		{via: "tcp", id: "c-anon", ver: "5"},
		{via: "tcp", id: "c-anon", ver: "31"},
		{via: "tcp", id: "c-empty", emptyUser: true},
		{via: "tcp", id: "c-empty", emptyUser: true, pass: "x", ver: "5"},
		// The certificate names the user; a password is not checked.
		{via: "tls", id: "c-tls", cert: "alice"},
		{via: "tls", id: "c-tls", cert: "alice", ver: "5"},
		{via: "tls", id: "c-tls", cert: "alice", user: "bob", pass: "wrong"},
		{via: "tls", id: "c-tls", cert: "dev-7", ver: "5"},
		{via: "tls", id: "c-tls", cert: "nocn"},
		{via: "tls", id: "c-tls", cert: "nocn", ver: "5"},
		{via: "tls", id: "c-tls", user: "alice", pass: "alice-pw"},
		{via: "ws", id: "c-ws", user: "alice", pass: "alice-pw"},
		{via: "ws", id: "c-ws", user: "alice", pass: "alice-pw", ver: "5"},
		{via: "ws", id: "c-ws", user: "alice", pass: "wrong"},
		{via: "ws", id: "c-ws", user: "alice", pass: "wrong", ver: "5"},
		{via: "ws", id: "c-ws", user: "mallory", pass: "x"},
		{via: "ws", id: "c-ws"},
	} {
		cs = append(cs, dropinCase{name: "connect " + a.String(), pubs: []pubStep{probeAs(a)}})
	}
	return cs
}

// aclCases check what is delivered: user, deny, pattern (%u, %c) and
// anonymous rules, "#" subscriptions, retained messages, $SYS and
// shared subscriptions, over TCP, TLS and WebSockets.
func aclCases() []dropinCase {
	return []dropinCase{
		{name: "alice reads alice/#: writers by user rule, read-only and anonymous refused",
			sub: watchAs(aliceSub, "alice/#"),
			pubs: []pubStep{sendAs(alicePub, "alice/a"), sendAs(bobPub, "alice/inbox"), sendAs(bobPub, "alice/news"),
				sendAs(anonPub, "alice/x"), sendAs(opsPub, "alice/ops"), sendAs(bobPub5, "alice/news")}},
		{name: "bob reads only alice/news of alice/#",
			sub:  watchAs(bobSub, "alice/#"),
			pubs: []pubStep{sendAs(alicePub, "alice/news"), sendAs(alicePub, "alice/private"), sendAs(alicePub, "alice/inbox")}},
		{name: "bob's # delivers only what bob may read",
			sub: watchAs(bobSub5, "#"),
			pubs: []pubStep{sendAs(opsPub, "sensors/kitchen/temp"), sendAs(opsPub, "sensors/kitchen/humidity"), sendAs(opsPub, "alice/news"),
				sendAs(opsPub, "public/x"), sendAs(opsPub, "bob/y"), sendAs(opsPub, "users/bob/z"), sendAs(opsPub, "users/alice/z")}},
		{name: "alice's # v5 delivers neither $SYS nor unreadable topics",
			sub: watchAs(alice5, "#"),
			pubs: []pubStep{sendAs(opsPub, "bob/secret"), sendAs(opsPub, "alice/ok"), sendAs(opsPub, "sensors/secret"),
				sendAs(opsPub, "public/p"), sendAs(opsPub, "users/alice/u"), sendAs(bobPub, "$SYS/broker/connection/x/state")}},
		{name: "deny rule beats read sensors/#; alice writes sensors/alice/# only",
			sub: watchAs(aliceSub, "sensors/#"),
			pubs: []pubStep{sendAs(opsPub, "sensors/secret"), sendAs(opsPub, "sensors/a/temp"), sendAs(opsPub, "sensors/secret/x"),
				sendAs(alicePub, "sensors/alice/1"), sendAs(alicePub, "sensors/bob/1"), sendAs(alicePub, "sensors/secret")}},
		{name: "anonymous reads public/#, writes public/anon/# only",
			sub: watchAs(anonSub, "public/#"),
			pubs: []pubStep{sendAs(anonPub, "public/anon/1"), sendAs(anonPub, "public/x"), sendAs(alicePub, "public/y"),
				sendAs(anonPub5, "public/z"), sendAs(bobPub, "public/bob")}},
		{name: "anonymous subscriber cannot read alice/#",
			sub:  watchAs(anonSub, "alice/#", "bob/#"),
			pubs: []pubStep{sendAs(alicePub, "alice/1"), sendAs(bobPub, "bob/1")}},
		{name: "a + or # in the client id voids the pattern rules, not the others",
			sub: watchAs(opsSub, "public/#", "users/#"),
			pubs: []pubStep{sendAs(actor{via: "tcp", id: "anon+x"}, "public/anon/plus"),
				sendAs(actor{via: "tcp", id: "alice#x", user: "alice", pass: "alice-pw"}, "public/alice-hash"),
				sendAs(actor{via: "tcp", id: "alice#x", user: "alice", pass: "alice-pw"}, "users/alice/hash")}},
		{name: "pattern %u: users/<user>/# only for that user",
			sub: watchAs(aliceSub, "users/alice/#"),
			pubs: []pubStep{sendAs(alicePub, "users/alice/1"), sendAs(bobPub, "users/alice/2"), sendAs(opsPub, "users/alice/3"),
				sendAs(anonPub, "users/alice/4"), sendAs(tlsAlice, "users/alice/5")}},
		{name: "pattern %u: bob's users/# delivers users/bob/ only",
			sub:  watchAs(bobSub, "users/#"),
			pubs: []pubStep{sendAs(opsPub, "users/alice/1"), sendAs(opsPub, "users/bob/1"), sendAs(bobPub, "users/bob/2")}},
		{name: "pattern %c: TLS dev-7 reads devices/dev-7/cmd, not /state or other devices",
			sub: watchAs(tlsDevSub, "devices/#"),
			pubs: []pubStep{sendAs(opsPub, "devices/dev-7/cmd"), sendAs(opsPub, "devices/dev-8/cmd"), sendAs(opsPub, "devices/dev-7/state"),
				sendAs(opsPub, "telemetry/dev-7/t")}},
		{name: "pattern %c and the cert user: who may write devices/dev-7/state and telemetry",
			sub: watchAs(opsSub, "devices/#", "telemetry/#"),
			pubs: []pubStep{sendAs(tlsDev, "devices/dev-7/state"), sendAs(tlsDev, "telemetry/dev-7/t"), sendAs(tlsDev, "devices/dev-8/state"),
				sendAs(actor{via: "tls", id: "other", cert: "dev-7"}, "devices/dev-7/state"),
				sendAs(actor{via: "tls", id: "other", cert: "dev-7"}, "telemetry/dev-7/u"),
				sendAs(actor{via: "tcp", id: "dev-7"}, "devices/dev-7/state"),
				sendAs(actor{via: "tcp", id: "dev-7"}, "telemetry/dev-7/v"),
				sendAs(actor{via: "tcp", id: "dev-7", user: "bob", pass: "bob-pw"}, "devices/dev-7/state")}},
		{name: "TLS identity: the certificate's CN, not the CONNECT username, meets the ACL",
			sub: watchAs(opsSub, "alice/#", "bob/#"),
			pubs: []pubStep{sendAs(tlsAlice, "alice/cert"), sendAs(actor{via: "tls", id: "tls-alice-as-bob", cert: "alice", user: "bob", pass: "bob-pw"}, "bob/cert"),
				sendAs(actor{via: "tls", id: "tls-alice-as-bob", cert: "alice", user: "bob", pass: "bob-pw"}, "alice/cert2"),
				sendAs(tlsDev, "alice/dev")}},
		{name: "TLS alice subscriber gets alice's rules",
			sub:  watchAs(tlsAlice, "alice/#", "bob/#"),
			pubs: []pubStep{sendAs(opsPub, "alice/t"), sendAs(opsPub, "bob/t")}},
		{name: "TLS without a client certificate is refused",
			sub:  watchAs(actor{via: "tls", id: "tls-nocert", user: "alice", pass: "alice-pw"}, "alice/#"),
			pubs: []pubStep{sendAs(opsPub, "alice/nocert")}},
		{name: "retained: only readable retained messages are sent on subscribe",
			setup: []pubStep{keepAs(opsPub, "sensors/r/temp"), keepAs(opsPub, "sensors/r/humidity"), keepAs(opsPub, "sensors/secret"),
				keepAs(alicePub, "sensors/bob/r"), keepAs(alicePub, "sensors/alice/r")},
			sub:   watchAs(aliceSub, "sensors/#"),
			clear: []string{"sensors/r/temp", "sensors/r/humidity", "sensors/secret", "sensors/bob/r", "sensors/alice/r"}},
		{name: "retained: bob's sensors/# gets only +/temp",
			setup: []pubStep{keepAs(opsPub, "sensors/r/temp"), keepAs(opsPub, "sensors/r/humidity"), keepAs(opsPub, "sensors/secret")},
			sub:   watchAs(bobSub, "sensors/#"),
			clear: []string{"sensors/r/temp", "sensors/r/humidity", "sensors/secret"}},
		{name: "retained: # subscriber gets the readable retained messages only",
			setup: []pubStep{keepAs(opsPub, "alice/r"), keepAs(opsPub, "bob/r"), keepAs(anonPub, "public/anon/r")},
			sub:   watchAs(bobSub5, "#"),
			clear: []string{"alice/r", "bob/r", "public/anon/r"}},
		{name: "retained: a refused retained publish is not kept",
			setup: []pubStep{keepAs(bobPub, "alice/news"), keepAs(anonPub, "public/r")},
			sub:   watchAs(opsSub, "alice/#", "public/#"),
			clear: []string{"alice/news", "public/r"}},
		{name: "$SYS: bob (readwrite $SYS/#) reads the broker version",
			sub: watchAs(bobSub, "$SYS/broker/version")},
		{name: "$SYS: alice may not read it, ops's # does not cover it",
			sub:  watchAs(aliceSub, "$SYS/broker/version", "$SYS/#"),
			pubs: []pubStep{sendAs(bobPub, "$SYS/broker/connection/b/state")}},
		{name: "$SYS: anonymous may not read it",
			sub: watchAs(anonSub, "$SYS/#")},
		{name: "$SYS: ops's # does not cover it",
			sub:  watchAs(opsSub, "$SYS/broker/version", "$SYS/broker/connection/#"),
			pubs: []pubStep{sendAs(bobPub, "$SYS/broker/connection/c/state")}},
		{name: "$SYS: clients may write only $SYS/broker/connection/+/state",
			sub: watchAs(bobSub5, "$SYS/broker/connection/#", "$SYS/test/#"),
			pubs: []pubStep{sendAs(bobPub, "$SYS/broker/connection/br1/state"), sendAs(bobPub, "$SYS/test/x"),
				sendAs(bobPub5, "$SYS/test/y"), sendAs(bobPub, "$SYS/broker/connection/br1/other")}},
		{name: "$share: shared subscriptions meet the same read rules",
			sub:  watchAs(bobSub, "$share/g/alice/#"),
			pubs: []pubStep{sendAs(opsPub, "alice/news"), sendAs(opsPub, "alice/private")}},
		{name: "v5 publishes refused at QoS 0, 1 and 2",
			sub: watchAs(opsSub, "bob/#"),
			pubs: []pubStep{{by: alice5, topic: "bob/q0", payload: "0", qos: 0}, {by: alice5, topic: "bob/q1", payload: "1", qos: 1},
				{by: alice5, topic: "bob/q2", payload: "2", qos: 2}, {by: bobPub5, topic: "bob/ok2", payload: "2", qos: 2}}},
		{name: "3.1.1 publishes refused at QoS 0, 1 and 2",
			sub: watchAs(opsSub, "bob/#"),
			pubs: []pubStep{{by: alicePub, topic: "bob/q0", payload: "0", qos: 0}, {by: alicePub, topic: "bob/q1", payload: "1", qos: 1},
				{by: alicePub, topic: "bob/q2", payload: "2", qos: 2}, {by: bobPub, topic: "bob/ok2", payload: "2", qos: 2}}},
		{name: "v5 publish nobody subscribes to: reason code in PUBACK and PUBREC",
			pubs: []pubStep{sendAs(wsAlice5, "alice/nobody"), {by: wsAlice5, topic: "alice/nobody2", payload: "2", qos: 2},
				sendAs(alice5, "alice/nobody")}},
		{name: "WebSocket: alice subscribes and publishes",
			sub: watchAs(wsAlice, "alice/#", "bob/#"),
			pubs: []pubStep{sendAs(wsAlice5, "alice/ws"), sendAs(wsAlice5, "bob/ws"), sendAs(bobPub, "alice/inbox"),
				sendAs(actor{via: "ws", id: "ws-bad", user: "alice", pass: "wrong"}, "alice/bad")}},
		{name: "WebSocket: anonymous subscriber and publisher",
			sub:  watchAs(wsAnonSub, "public/#", "alice/#"),
			pubs: []pubStep{sendAs(wsAnon, "public/anon/ws"), sendAs(wsAnon, "public/ws"), sendAs(opsPub, "alice/x"), sendAs(alicePub, "public/a")}},
		{name: "WebSocket subscriber sees TCP and TLS publishers",
			sub:  watchAs(wsAlice5, "sensors/#", "users/alice/#"),
			pubs: []pubStep{sendAs(tlsAlice, "sensors/alice/tls"), sendAs(alicePub, "users/alice/tcp"), sendAs(opsPub, "sensors/secret")}},
	}
}

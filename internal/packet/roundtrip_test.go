package packet

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// richProps returns v5 properties for context c with every property that
// c allows set to a distinctive value.
func richProps(c propContext) Properties {
	all := Properties{
		PayloadFormat:        1,
		MessageExpiry:        3600,
		ContentType:          "text/plain",
		ResponseTopic:        "reply/here",
		CorrelationData:      []byte{1, 2, 3},
		SessionExpiry:        120,
		AssignedClientID:     "auto-1",
		ServerKeepAlive:      30,
		AuthMethod:           "SCRAM-SHA-1",
		AuthData:             []byte("data"),
		RequestProblemInfo:   1,
		WillDelay:            10,
		RequestResponseInfo:  1,
		ResponseInfo:         "info",
		ServerReference:      "other:1883",
		ReasonString:         "because",
		ReceiveMaximum:       100,
		TopicAliasMaximum:    10,
		TopicAlias:           4,
		MaximumQoS:           1,
		RetainAvailable:      1,
		MaximumPacketSize:    65536,
		WildcardSubAvailable: 0,
		SubIDAvailable:       1,
		SharedSubAvailable:   1,
	}
	allowed := c.allowed()
	var p Properties
	for id := PropID(1); id < 64; id++ {
		if allowed&bit(id) != 0 && bit(id)&repeatedProps == 0 {
			copyProp(&p, &all, id)
			p.Set(id)
		}
	}
	p.User = []UserProperty{{"k", "v"}, {"k", "v2"}, {"", ""}}
	switch {
	case c == ctxPublish:
		p.SubscriptionIDs = []uint32{1, 300, MaxRemainingLength}
	case allowed&bit(PropSubscriptionID) != 0:
		p.SubscriptionIDs = []uint32{1}
	}
	return p
}

func copyProp(dst, src *Properties, id PropID) {
	switch id {
	case PropPayloadFormat:
		dst.PayloadFormat = src.PayloadFormat
	case PropMessageExpiry:
		dst.MessageExpiry = src.MessageExpiry
	case PropContentType:
		dst.ContentType = src.ContentType
	case PropResponseTopic:
		dst.ResponseTopic = src.ResponseTopic
	case PropCorrelationData:
		dst.CorrelationData = src.CorrelationData
	case PropSessionExpiry:
		dst.SessionExpiry = src.SessionExpiry
	case PropAssignedClientID:
		dst.AssignedClientID = src.AssignedClientID
	case PropServerKeepAlive:
		dst.ServerKeepAlive = src.ServerKeepAlive
	case PropAuthMethod:
		dst.AuthMethod = src.AuthMethod
	case PropAuthData:
		dst.AuthData = src.AuthData
	case PropRequestProblemInfo:
		dst.RequestProblemInfo = src.RequestProblemInfo
	case PropWillDelay:
		dst.WillDelay = src.WillDelay
	case PropRequestResponseInfo:
		dst.RequestResponseInfo = src.RequestResponseInfo
	case PropResponseInfo:
		dst.ResponseInfo = src.ResponseInfo
	case PropServerReference:
		dst.ServerReference = src.ServerReference
	case PropReasonString:
		dst.ReasonString = src.ReasonString
	case PropReceiveMaximum:
		dst.ReceiveMaximum = src.ReceiveMaximum
	case PropTopicAliasMaximum:
		dst.TopicAliasMaximum = src.TopicAliasMaximum
	case PropTopicAlias:
		dst.TopicAlias = src.TopicAlias
	case PropMaximumQoS:
		dst.MaximumQoS = src.MaximumQoS
	case PropRetainAvailable:
		dst.RetainAvailable = src.RetainAvailable
	case PropMaximumPacketSize:
		dst.MaximumPacketSize = src.MaximumPacketSize
	case PropWildcardSubAvailable:
		dst.WildcardSubAvailable = src.WildcardSubAvailable
	case PropSubscriptionIDAvailable:
		dst.SubIDAvailable = src.SubIDAvailable
	case PropSharedSubAvailable:
		dst.SharedSubAvailable = src.SharedSubAvailable
	}
}

// samples returns packets of every type for protocol level v. For 3.x
// they carry only what 3.x can: TestAppendDropsV5Fields covers the rest.
func samples(v byte) []Packet {
	v5 := v == V5
	props := func(c propContext) Properties {
		if v5 {
			return richProps(c)
		}
		return Properties{}
	}
	// The failure codes differ: 3.x has one for each packet.
	subFailure, connFailure := V3SubackFailure, V3NotAuthorized
	if v5 {
		subFailure, connFailure = NotAuthorized, NotAuthorized
	}
	connect := &Connect{
		ProtocolName: protocolName(v), ProtocolVersion: v, CleanStart: true, KeepAlive: 60,
		Properties: props(ctxConnect), ClientID: "client-1",
		Will:         &Will{Properties: props(ctxWill), Topic: "will/topic", Payload: []byte("gone"), QoS: 2, Retain: true},
		UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("secret"),
	}
	out := []Packet{
		connect,
		&Connect{ProtocolName: protocolName(v), ProtocolVersion: v, ClientID: ""},
		&Connect{ProtocolName: protocolName(v), ProtocolVersion: v, Bridge: true, ClientID: "bridge",
			Will: &Will{Topic: "t"}, UsernameFlag: true, Username: "", PasswordFlag: true},
		&Connack{ReasonCode: 0, SessionPresent: v != V31, Properties: props(ctxConnack)},
		&Connack{ReasonCode: connFailure},
		&Publish{Topic: "a/b", Payload: []byte("hello"), Properties: props(ctxPublish)},
		&Publish{Topic: "a/b/c", QoS: 1, PacketID: 1, Retain: true, Dup: true},
		&Publish{Topic: "x", QoS: 2, PacketID: 65535, Payload: make([]byte, 300), Properties: props(ctxPublish)},
		&Publish{Topic: "€/ü/\u00ff/\U0001F600", QoS: 1, PacketID: 9},
		&Subscribe{PacketID: 3, Properties: props(ctxSubscribe), Subscriptions: []Subscription{
			{Filter: "a/#", QoS: 2}, {Filter: "+/b", QoS: 1}, {Filter: "$share/g/c", QoS: 0},
		}},
		&Suback{PacketID: 3, Properties: props(ctxSuback), ReasonCodes: []ReasonCode{GrantedQoS2, GrantedQoS1, Success, subFailure}},
		&Unsubscribe{PacketID: 4, Properties: props(ctxUnsubscribe), Filters: []string{"a/#", "b"}},
		&Pingreq{},
		&Pingresp{},
		&Disconnect{},
	}
	for _, k := range []Type{PUBACK, PUBREC, PUBREL, PUBCOMP} {
		out = append(out, &Ack{Kind: k, PacketID: 42})
	}
	if v5 {
		out = append(out,
			&Subscribe{PacketID: 5, Subscriptions: []Subscription{
				{Filter: "n/l", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "r/h", RetainHandling: 1},
			}},
			&Unsuback{PacketID: 4, Properties: props(ctxUnsuback), ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}},
			&Unsuback{PacketID: 4},
			&Ack{Kind: PUBACK, PacketID: 1, ReasonCode: NoMatchingSubscribers},
			&Ack{Kind: PUBREC, PacketID: 2, ReasonCode: QuotaExceeded, Properties: props(ctxAck)},
			&Ack{Kind: PUBREL, PacketID: 3, ReasonCode: PacketIdentifierNotFound},
			&Ack{Kind: PUBCOMP, PacketID: 4, Properties: props(ctxAck)},
			&Disconnect{ReasonCode: DisconnectWithWill},
			&Disconnect{ReasonCode: SessionTakenOver, Properties: props(ctxDisconnect)},
			&Auth{},
			&Auth{ReasonCode: ContinueAuthentication, Properties: props(ctxAuth)},
			&Publish{Topic: "", QoS: 0, Properties: withProps(Properties{TopicAlias: 2}, PropTopicAlias)},
			&Connack{Properties: withProps(Properties{}, PropRetainAvailable)},
		)
	} else {
		out = append(out, &Unsuback{PacketID: 4})
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, v := range versions {
		for i, p := range samples(v) {
			t.Run(fmt.Sprintf("v%d/%d-%s", v, i, p.Type()), func(t *testing.T) {
				got := roundTrip(t, v, p)
				mustEqual(t, got, p)
			})
		}
	}
}

// TestAppendDropsV5Fields checks that 3.x encodings leave out what 3.x
// cannot carry, and that v5 short forms decode to the same values.
func TestAppendDropsV5Fields(t *testing.T) {
	rich := func(c propContext) Properties { return richProps(c) }
	tests := []struct {
		name    string
		version byte
		in      Packet
		want    Packet
	}{
		{"publish props", V311, &Publish{Topic: "t", QoS: 1, PacketID: 1, Properties: rich(ctxPublish)},
			&Publish{Topic: "t", QoS: 1, PacketID: 1}},
		{"publish qos0 id and dup", V5, &Publish{Topic: "t", PacketID: 5, Dup: true}, &Publish{Topic: "t"}},
		{"connect props", V311, &Connect{ProtocolVersion: V311, ClientID: "c", Properties: rich(ctxConnect),
			Will: &Will{Topic: "w", Properties: rich(ctxWill)}},
			&Connect{ProtocolName: "MQTT", ProtocolVersion: V311, ClientID: "c", Will: &Will{Topic: "w"}}},
		{"connect name from level", V31, &Connect{ProtocolName: "ignored", ProtocolVersion: V31, ClientID: "c"},
			&Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31, ClientID: "c"}},
		{"connect level from version", V5, &Connect{ClientID: "c"},
			&Connect{ProtocolName: "MQTT", ProtocolVersion: V5, ClientID: "c"}},
		{"connack 3.1 session present", V31, &Connack{SessionPresent: true}, &Connack{}},
		{"connack props", V311, &Connack{ReasonCode: V3BadUsernameOrPassword, Properties: rich(ctxConnack)},
			&Connack{ReasonCode: V3BadUsernameOrPassword}},
		{"ack reason", V311, &Ack{Kind: PUBREC, PacketID: 2, ReasonCode: QuotaExceeded, Properties: rich(ctxAck)},
			&Ack{Kind: PUBREC, PacketID: 2}},
		{"suback v5 failure", V311, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{NotAuthorized, GrantedQoS1}},
			&Suback{PacketID: 1, ReasonCodes: []ReasonCode{V3SubackFailure, GrantedQoS1}}},
		{"unsuback codes", V311, &Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{Success}, Properties: rich(ctxUnsuback)},
			&Unsuback{PacketID: 1}},
		{"subscribe options", V311, &Subscribe{PacketID: 1, Properties: rich(ctxSubscribe),
			Subscriptions: []Subscription{{Filter: "f", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}},
			&Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "f", QoS: 1}}}},
		{"disconnect reason", V311, &Disconnect{ReasonCode: ServerShuttingDown, Properties: rich(ctxDisconnect)},
			&Disconnect{}},
		// Of the CONNECT properties only User Property is allowed in PUBACK.
		{"props not allowed", V5, &Ack{Kind: PUBACK, PacketID: 1, Properties: rich(ctxConnect)},
			&Ack{Kind: PUBACK, PacketID: 1, Properties: Properties{User: rich(ctxConnect).User}}},
		{"empty binary decodes nil", V5, &Publish{Topic: "t", Payload: []byte{}}, &Publish{Topic: "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, tt.version, tt.in)
			mustEqual(t, got, tt.want)
		})
	}
}

func TestAppendErrors(t *testing.T) {
	long := string(make([]byte, 65536))
	tests := []struct {
		name    string
		version byte
		p       Packet
	}{
		{"nil", V5, nil},
		{"typed nil", V5, (*Publish)(nil)},
		{"unknown version", 6, &Pingreq{}},
		{"version 0", 0, &Pingreq{}},
		{"connect version mismatch", V311, &Connect{ProtocolVersion: V5}},
		{"connect no version", 0, &Connect{}},
		{"publish qos 3", V311, &Publish{Topic: "t", QoS: 3}},
		{"topic too long", V311, &Publish{Topic: long}},
		{"user property too long", V5, &Publish{Topic: "t", Properties: Properties{User: []UserProperty{{Key: long}}}}},
		{"subscription id too large", V5, &Publish{Topic: "t", Properties: Properties{SubscriptionIDs: []uint32{MaxRemainingLength + 1}}}},
		{"two subscription ids in subscribe", V5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "f"}},
			Properties: Properties{SubscriptionIDs: []uint32{1, 2}}}},
		{"will qos 3", V311, &Connect{ProtocolVersion: V311, Will: &Will{Topic: "t", QoS: 3}}},
		{"password without username 3.1.1", V311, &Connect{ProtocolVersion: V311, PasswordFlag: true}},
		{"connack 3.x code", V311, &Connack{ReasonCode: NotAuthorized}},
		{"suback 3.x code", V311, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{3}}},
		{"subscribe qos 3", V5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "f", QoS: 3}}}},
		{"subscribe retain handling 3", V5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "f", RetainHandling: 3}}}},
		{"subscribe empty", V5, &Subscribe{PacketID: 1}},
		{"unsubscribe empty", V5, &Unsubscribe{PacketID: 1}},
		{"ack kind", V5, &Ack{Kind: PUBLISH, PacketID: 1}},
		{"auth in 3.1.1", V311, &Auth{}},
		{"too large", V311, &Publish{Topic: "t", Payload: make([]byte, MaxRemainingLength)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := Append(dst, tt.p, tt.version)
			if err == nil {
				t.Fatalf("Append succeeded: % x", out)
			}
			if string(out) != "keep" {
				t.Fatalf("Append changed dst on error: %q", out)
			}
			if n := Size(tt.p, tt.version); n != 0 {
				t.Fatalf("Size = %d, want 0", n)
			}
		})
	}
}

// TestAppendPublishMatchesAppend: the concrete PUBLISH encoder writes what
// the generic one does, and fails where it fails.
func TestAppendPublishMatchesAppend(t *testing.T) {
	for _, v := range versions {
		for _, p := range samples(v) {
			pub, ok := p.(*Publish)
			if !ok {
				continue
			}
			want, wantErr := Append([]byte("x"), pub, v)
			got, err := AppendPublish([]byte("x"), pub, v)
			if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
				t.Errorf("v%d %+v: AppendPublish = %x, %v; Append = %x, %v", v, pub, got, err, want, wantErr)
			}
			if n, err := PublishSize(pub, v); err != nil || n != Size(pub, v) || n != len(want)-1 {
				t.Errorf("v%d: PublishSize = %d, %v; Size = %d", v, n, err, Size(pub, v))
			}
		}
	}
	bad := []struct {
		name    string
		p       Publish
		version byte
	}{
		{"QoS 3", Publish{Topic: "a", QoS: 3}, V311},
		{"unknown level", Publish{Topic: "a"}, 7},
		{"topic too long", Publish{Topic: strings.Repeat("a", 65536)}, V311},
		{"packet too long", Publish{Topic: "a", Payload: make([]byte, MaxRemainingLength)}, V311},
	}
	for _, bc := range bad {
		got, err := AppendPublish([]byte("x"), &bc.p, bc.version)
		if err == nil || string(got) != "x" {
			t.Errorf("%s: AppendPublish = %q, %v; want an error and dst unchanged", bc.name, got, err)
		}
		if _, err := PublishSize(&bc.p, bc.version); err == nil {
			t.Errorf("%s: PublishSize did not fail", bc.name)
		}
	}
}

// TestConcreteAckCodec: AppendAck writes what Append does and DecodeAck
// reads what Decode does, errors included.
func TestConcreteAckCodec(t *testing.T) {
	for _, v := range versions {
		for _, p := range samples(v) {
			a, ok := p.(*Ack)
			if !ok {
				continue
			}
			want, wantErr := Append([]byte("x"), a, v)
			got, err := AppendAck([]byte("x"), a, v)
			if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
				t.Errorf("v%d %+v: AppendAck = %x, %v; Append = %x, %v", v, a, got, err, want, wantErr)
			}
			if wantErr != nil {
				continue
			}
			first, _, hl, _ := ParseHeader(want[1:])
			var back Ack
			if err := DecodeAck(v, first, want[1+hl:], &back); err != nil {
				t.Fatalf("v%d: DecodeAck(%x): %v", v, want, err)
			}
			generic, err := Decode(v, first, want[1+hl:])
			if err != nil || fmt.Sprint(generic) != fmt.Sprint(&back) {
				t.Errorf("v%d: DecodeAck = %+v; Decode = %+v, %v", v, back, generic, err)
			}
		}
	}
	for _, bc := range []struct {
		name    string
		version byte
		first   byte
		body    []byte
	}{
		{"not an ack", V311, byte(PUBLISH) << 4, []byte{0, 1}},
		{"PUBREL flags", V311, byte(PUBREL) << 4, []byte{0, 1}},
		{"unknown level", 9, byte(PUBACK) << 4, []byte{0, 1}},
		{"packet id 0", V311, byte(PUBACK) << 4, []byte{0, 0}},
		{"short", V311, byte(PUBACK) << 4, []byte{0}},
		{"bytes left over", V311, byte(PUBACK) << 4, []byte{0, 1, 0}},
		{"reason code not for PUBACK", V5, byte(PUBACK) << 4, []byte{0, 1, 0x92}},
	} {
		var a Ack
		err := DecodeAck(bc.version, bc.first, bc.body, &a)
		_, generic := Decode(bc.version, bc.first, bc.body)
		if err == nil || bc.name != "not an ack" && (generic == nil || err.Error() != generic.Error()) {
			t.Errorf("%s: DecodeAck error %v; Decode error %v", bc.name, err, generic)
		}
	}
}

// TestDecodePublishInto: DecodePublish reads what Decode does, errors
// included, and reuses the caller's topic string when the name repeats.
func TestDecodePublishInto(t *testing.T) {
	for _, v := range versions {
		for _, p := range samples(v) {
			pub, ok := p.(*Publish)
			if !ok {
				continue
			}
			wire, err := Append(nil, pub, v)
			if err != nil {
				continue
			}
			first, _, hl, _ := ParseHeader(wire)
			body := wire[hl:]
			var got Publish
			if err := DecodePublish(v, first, body, &got, ""); err != nil {
				t.Fatalf("v%d: DecodePublish(%x): %v", v, wire, err)
			}
			generic, err := Decode(v, first, body)
			if err != nil || fmt.Sprint(generic) != fmt.Sprint(&got) {
				t.Errorf("v%d: DecodePublish = %+v; Decode = %+v, %v", v, got, generic, err)
			}
			if got.Topic == "" {
				continue
			}
			last := strings.Clone(got.Topic)
			var again Publish
			if err := DecodePublish(v, first, body, &again, last); err != nil || unsafe.StringData(again.Topic) != unsafe.StringData(last) {
				t.Errorf("v%d: the repeated topic %q was not reused (%v)", v, last, err)
			}
			var other Publish
			if err := DecodePublish(v, first, body, &other, last+"/x"); err != nil || other.Topic != got.Topic {
				t.Errorf("v%d: with another last topic, got topic %q (%v)", v, other.Topic, err)
			}
		}
	}
	for _, bc := range []struct {
		name    string
		version byte
		first   byte
		body    []byte
	}{
		{"not a PUBLISH", V311, byte(PUBACK) << 4, []byte{0, 1, 'a'}},
		{"QoS 3", V311, byte(PUBLISH)<<4 | 6, []byte{0, 1, 'a'}},
		{"wildcard", V311, byte(PUBLISH) << 4, []byte{0, 1, '#'}},
		{"empty topic in 3.1.1", V311, byte(PUBLISH) << 4, []byte{0, 0}},
		{"unknown level", 9, byte(PUBLISH) << 4, []byte{0, 1, 'a'}},
	} {
		var p Publish
		err := DecodePublish(bc.version, bc.first, bc.body, &p, "a")
		_, generic := Decode(bc.version, bc.first, bc.body)
		if err == nil || bc.name != "not a PUBLISH" && (generic == nil || err.Error() != generic.Error()) {
			t.Errorf("%s: DecodePublish error %v; Decode error %v", bc.name, err, generic)
		}
	}
}

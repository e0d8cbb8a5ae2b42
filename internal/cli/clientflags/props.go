package clientflags

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Command is the packet a -D/--property applies to.
type Command int

// Commands accepted by -D, named as mosquitto_string_to_command spells them.
const (
	CmdConnect Command = iota + 1
	CmdConnack
	CmdPublish
	CmdPuback
	CmdPubrec
	CmdPubrel
	CmdPubcomp
	CmdSubscribe
	CmdUnsubscribe
	CmdDisconnect
	CmdAuth
	CmdWill
)

var commandNames = map[string]Command{
	"connect": CmdConnect, "connack": CmdConnack, "publish": CmdPublish, "puback": CmdPuback,
	"pubrec": CmdPubrec, "pubrel": CmdPubrel, "pubcomp": CmdPubcomp, "subscribe": CmdSubscribe,
	"unsubscribe": CmdUnsubscribe, "disconnect": CmdDisconnect, "auth": CmdAuth, "will": CmdWill,
}

// PropType is the wire type of a property; the numbers are libmosquitto's,
// which appear in the "Error adding property" message.
type PropType int

// Property value types.
const (
	TypeByte PropType = iota + 1
	TypeInt16
	TypeInt32
	TypeVarint
	TypeBinary
	TypeString
	TypeStringPair
)

// MQTT 5 property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	PropPayloadFormat        byte = 0x01
	PropMessageExpiry        byte = 0x02
	PropContentType          byte = 0x03
	PropResponseTopic        byte = 0x08
	PropCorrelationData      byte = 0x09
	PropSubscriptionID       byte = 0x0B
	PropSessionExpiry        byte = 0x11
	PropAssignedClientID     byte = 0x12
	PropServerKeepAlive      byte = 0x13
	PropAuthMethod           byte = 0x15
	PropAuthData             byte = 0x16
	PropRequestProblemInfo   byte = 0x17
	PropWillDelay            byte = 0x18
	PropRequestResponseInfo  byte = 0x19
	PropResponseInfo         byte = 0x1A
	PropServerReference      byte = 0x1C
	PropReasonString         byte = 0x1F
	PropReceiveMaximum       byte = 0x21
	PropTopicAliasMaximum    byte = 0x22
	PropTopicAlias           byte = 0x23
	PropMaximumQoS           byte = 0x24
	PropRetainAvailable      byte = 0x25
	PropUserProperty         byte = 0x26
	PropMaximumPacketSize    byte = 0x27
	PropWildcardSubAvailable byte = 0x28
	PropSubIDAvailable       byte = 0x29
	PropSharedSubAvailable   byte = 0x2A
)

type propInfo struct {
	id  byte
	typ PropType
}

var propNames = map[string]propInfo{
	"payload-format-indicator":          {PropPayloadFormat, TypeByte},
	"message-expiry-interval":           {PropMessageExpiry, TypeInt32},
	"content-type":                      {PropContentType, TypeString},
	"response-topic":                    {PropResponseTopic, TypeString},
	"correlation-data":                  {PropCorrelationData, TypeBinary},
	"subscription-identifier":           {PropSubscriptionID, TypeVarint},
	"session-expiry-interval":           {PropSessionExpiry, TypeInt32},
	"assigned-client-identifier":        {PropAssignedClientID, TypeString},
	"server-keep-alive":                 {PropServerKeepAlive, TypeInt16},
	"authentication-method":             {PropAuthMethod, TypeString},
	"authentication-data":               {PropAuthData, TypeBinary},
	"request-problem-information":       {PropRequestProblemInfo, TypeByte},
	"will-delay-interval":               {PropWillDelay, TypeInt32},
	"request-response-information":      {PropRequestResponseInfo, TypeByte},
	"response-information":              {PropResponseInfo, TypeString},
	"server-reference":                  {PropServerReference, TypeString},
	"reason-string":                     {PropReasonString, TypeString},
	"receive-maximum":                   {PropReceiveMaximum, TypeInt16},
	"topic-alias-maximum":               {PropTopicAliasMaximum, TypeInt16},
	"topic-alias":                       {PropTopicAlias, TypeInt16},
	"maximum-qos":                       {PropMaximumQoS, TypeByte},
	"retain-available":                  {PropRetainAvailable, TypeByte},
	"user-property":                     {PropUserProperty, TypeStringPair},
	"maximum-packet-size":               {PropMaximumPacketSize, TypeInt32},
	"wildcard-subscription-available":   {PropWildcardSubAvailable, TypeByte},
	"subscription-identifier-available": {PropSubIDAvailable, TypeByte},
	"shared-subscription-available":     {PropSharedSubAvailable, TypeByte},
}

// Property is one property given with -D, or added by the tool itself.
type Property struct {
	ID    byte
	Type  PropType
	Value uint32 // byte, two-byte, four-byte and varint values
	Key   string // user-property name
	Str   string // string values and the user-property value
	Bin   []byte // binary values
}

// allowedOn reports whether property id may appear on cmd, following
// mosquitto_property_check_command.
func allowedOn(cmd Command, id byte) bool {
	switch id {
	case PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic, PropCorrelationData:
		return cmd == CmdPublish || cmd == CmdWill
	case PropSubscriptionID:
		return cmd == CmdPublish || cmd == CmdSubscribe
	case PropSessionExpiry:
		return cmd == CmdConnect || cmd == CmdConnack || cmd == CmdDisconnect
	case PropAuthMethod, PropAuthData:
		return cmd == CmdConnect || cmd == CmdConnack || cmd == CmdAuth
	case PropAssignedClientID, PropServerKeepAlive, PropResponseInfo, PropMaximumQoS,
		PropRetainAvailable, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
		return cmd == CmdConnack
	case PropWillDelay:
		return cmd == CmdWill
	case PropRequestProblemInfo, PropRequestResponseInfo:
		return cmd == CmdConnect
	case PropServerReference:
		return cmd == CmdConnack || cmd == CmdDisconnect
	case PropReasonString:
		return cmd != CmdConnect && cmd != CmdPublish && cmd != CmdSubscribe && cmd != CmdUnsubscribe
	case PropReceiveMaximum, PropTopicAliasMaximum, PropMaximumPacketSize:
		return cmd == CmdConnect || cmd == CmdConnack
	case PropTopicAlias:
		return cmd == CmdPublish
	case PropUserProperty:
		return true
	}
	return false
}

// parseProperty handles the operands of one -D/--property at args[i:],
// mirroring mosquitto's cfg_parse_property, and returns how many arguments
// it consumed.
func (c *Config) parseProperty(args []string, i int) (int, error) {
	if i+2 > len(args)-1 {
		return 0, usagef("Error: --property argument given but not enough arguments specified.\n\n")
	}
	cmdName, propName := args[i], args[i+1]
	cmd, ok := commandNames[strings.ToLower(cmdName)]
	if !ok {
		return 0, usagef("Error: Invalid command given in --property argument.\n\n")
	}
	info, ok := propNames[strings.ToLower(propName)]
	if !ok {
		return 0, usagef("Error: Invalid property name given in --property argument.\n\n")
	}
	if !allowedOn(cmd, info.id) {
		return 0, usagef("Error: %s property not allowed for %s in --property argument.\n\n", propName, cmdName)
	}
	p := Property{ID: info.id, Type: info.typ}
	value := args[i+2]
	used := 3
	if info.id == PropUserProperty {
		if i+3 > len(args)-1 {
			return 0, usagef("Error: --property argument given but not enough arguments specified.\n\n")
		}
		p.Key, value = args[i+2], args[i+3]
		used = 4
	}

	notSupported := usagef("Error: %s property not supported for %s in --property argument.\n\n", propName, cmdName)
	var list *[]Property
	switch cmd {
	case CmdConnect:
		list = &c.ConnectProps
	case CmdPublish:
		if info.id == PropTopicAlias {
			c.HaveTopicAlias = true
		}
		if info.id == PropSubscriptionID {
			return 0, notSupported
		}
		list = &c.PublishProps
	case CmdSubscribe:
		if info.id != PropSubscriptionID && info.id != PropUserProperty {
			return 0, notSupported
		}
		list = &c.SubscribeProps
	case CmdUnsubscribe:
		list = &c.UnsubscribeProps
	case CmdDisconnect:
		list = &c.DisconnectProps
	case CmdWill:
		list = &c.WillProps
	case CmdConnack:
		// mosquitto fails here without a message of its own.
		return 0, usagef("")
	default: // auth and the acknowledgements
		return 0, notSupported
	}

	if err := p.setValue(propName, value); err != nil {
		return 0, err
	}
	*list = append(*list, p)
	return used, nil
}

// setValue converts value as libmosquitto does: atol for numbers, then
// range checks, then the validity checks of mosquitto_property_add_*.
func (p *Property) setValue(name, value string) error {
	addErr := usagef("Error adding property %s %d\n", name, p.Type)
	switch p.Type {
	case TypeByte, TypeInt16, TypeInt32, TypeVarint:
		limit := map[PropType]int64{TypeByte: 0xFF, TypeInt16: 0xFFFF, TypeInt32: 0xFFFFFFFF, TypeVarint: 0xFFFFFFFF}[p.Type]
		v := atol(value)
		if v < 0 || v > limit {
			return usagef("Error: Property value (%d) out of range for property %s.\n\n", v, name)
		}
		if p.Type == TypeVarint && v > 268435455 {
			return addErr
		}
		p.Value = uint32(v)
	case TypeBinary:
		if len(value) > 65535 {
			return usagef("Error: Property value too long for property %s.\n\n", name)
		}
		p.Bin = []byte(value)
	case TypeString:
		if len(value) > 65535 || !validUTF8(value) {
			return addErr
		}
		p.Str = value
	case TypeStringPair:
		if len(value) > 65535 || len(p.Key) > 65535 || !validUTF8(value) || !validUTF8(p.Key) {
			return addErr
		}
		p.Str = value
	}
	return nil
}

// validUTF8 follows mosquitto_validate_utf8: well formed UTF-8 without
// U+0000 and without the control characters U+0001..U+001F and U+007F..U+009F.
func validUTF8(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7F && r <= 0x9F) || (r >= 0xD800 && r <= 0xDFFF) {
			return false
		}
		if r&0xFFFF >= 0xFFFE || (r >= 0xFDD0 && r <= 0xFDEF) {
			return false
		}
	}
	return true
}

// checkAll mirrors mosquitto_property_check_all: value sanity, command
// compatibility and duplicates.
func checkAll(cmd Command, props []Property) error {
	const protocolErr = "A network protocol error occurred when communicating with the broker."
	for i, p := range props {
		switch p.ID {
		case PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS, PropRetainAvailable,
			PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
			if p.Value > 1 {
				return fmt.Errorf("%s", protocolErr)
			}
		case PropMaximumPacketSize:
			if p.Value == 0 {
				return fmt.Errorf("%s", protocolErr)
			}
		case PropReceiveMaximum, PropTopicAlias:
			if p.Value == 0 {
				return fmt.Errorf("%s", protocolErr)
			}
		}
		if !allowedOn(cmd, p.ID) {
			return fmt.Errorf("%s", protocolErr)
		}
		for _, q := range props[i+1:] {
			if q.ID == p.ID && p.ID != PropUserProperty {
				return fmt.Errorf("Duplicate property in property list")
			}
		}
	}
	return nil
}

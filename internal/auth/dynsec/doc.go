// Package dynsec is Mosquitto 2.0's dynamic security plugin
// (mosquitto_dynamic_security.so) built into midge: clients, groups and
// roles with ACLs, kept in the plugin's JSON file and managed at run time
// with JSON commands published to $CONTROL/dynamic-security/v1, as
// mosquitto_ctrl's dynsec module sends them.
//
// Security answers the broker's three questions: Authenticate at CONNECT,
// Authorize for every publish, delivery, subscribe and unsubscribe, and
// Handle for every control request. Authenticate and Authorize return
// Defer when the plugin has no opinion, so that the broker goes on to the
// next check exactly as Mosquitto chains a plugin with password_file and
// acl_file (see Result). Handle returns the response to publish and the
// clients to disconnect because their rights changed.
//
// Everything observable is Mosquitto's: the response texts and shapes,
// the order of every list, the file's layout (so that Mosquitto and midge
// read each other's files), and the quirks of its JSON parser and of its
// argument checks. Where Mosquitto 2.0.11 has a bug that can crash it or
// silently loosen security, midge does what later Mosquitto versions do or
// what is safe, and says so where it does it.
//
// The package imports only the standard library and internal/ascii.
package dynsec

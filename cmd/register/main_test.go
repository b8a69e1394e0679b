package main

import "testing"

// --help says how to call zonecast-register and lists each of its flags
// with its variable.
func TestHelpListsFlags(t *testing.T) {
	if err := program().Check(); err != nil {
		t.Fatal(err)
	}
}

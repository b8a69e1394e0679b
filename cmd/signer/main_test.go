package main

import "testing"

// The signer's --help says how to call it and lists each of its flags
// with its variable.
func TestHelpListsFlags(t *testing.T) {
	if err := program().Check(); err != nil {
		t.Fatal(err)
	}
}

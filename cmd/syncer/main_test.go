package main

import "testing"

// Every command's --help says how to call it and lists each of its flags
// with its variable; the syncer's own lists every command.
func TestHelpListsFlags(t *testing.T) {
	if err := program().Check(); err != nil {
		t.Fatal(err)
	}
}

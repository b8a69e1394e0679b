package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
)

// passwdFlags registers the flags of passwd, which prints the bcrypt hash
// of a password for a users file: the password is read from a file
// (--password-file; generated if missing) or standard input, never from
// the command line.
func passwdFlags(fs *flag.FlagSet) cli.Func {
	var file string
	var cost int
	fs.StringVar(&file, "password-file", "", "password file; a random password is generated into it (mode 0600) if it does not exist; empty: read one line from standard input")
	fs.IntVar(&cost, "cost", 11, "bcrypt cost")
	return func(context.Context, []string) error { return passwd(file, cost) }
}

func passwd(file string, cost int) error {
	var pw string
	var err error
	if file != "" {
		pw, err = bus.EnsurePassword(file)
	} else {
		var line string
		line, err = bufio.NewReader(os.Stdin).ReadString('\n')
		pw = strings.TrimSpace(line)
		if pw == "" && err == nil {
			err = fmt.Errorf("empty password")
		}
		if pw != "" {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("reading the password: %w", err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	fmt.Println(string(h))
	return nil
}

// nkeyFlags registers the flags of nkey, which creates a user nkey: the
// seed goes into a file (mode 0600), the public key is printed for "nkey"
// in a users file.
func nkeyFlags(fs *flag.FlagSet) cli.Func {
	var file string
	fs.StringVar(&file, "seed-file", "", "file to create with the new seed (must not exist)")
	return func(context.Context, []string) error { return nkey(file) }
}

func nkey(file string) error {
	if file == "" {
		return fmt.Errorf("%w: --seed-file is required", errUsage)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("creating an nkey: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return fmt.Errorf("creating an nkey: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return fmt.Errorf("creating an nkey: %w", err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating seed file: %w", err)
	}
	if _, err := f.Write(append(seed, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing seed file %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing seed file %s: %w", file, err)
	}
	fmt.Println(pub)
	return nil
}

package testenv

import (
	"net"
	"sync"
	"testing"
)

// Silent is a TCP server that takes connections and never answers: a hung
// Redis, a receiver stuck before its TLS handshake, a black hole on the way.
// What is sent to it waits until HangUp drops the connections (or the test
// ends), and then fails.
type Silent struct {
	Addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// NewSilent starts a Silent server on a free local port.
func NewSilent(t testing.TB) *Silent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Must(t, err)
	s := &Silent{Addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c) // read nothing, write nothing
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.HangUp)
	return s
}

// HangUp stops taking connections and drops those taken.
func (s *Silent) HangUp() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

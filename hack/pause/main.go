/*
Copyright 2026 The userservice-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command pause is the pod sandbox ("pause") container of the local
// real-node cluster (hack/local-cluster.sh --mode real-node), which cannot
// pull registry.k8s.io/pause. Like the upstream one, it holds the pod's
// namespaces, reaps children it inherits as PID 1, and exits 0 on SIGTERM or
// SIGINT. `make images` packs it into dist/pause.oci.tar.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// main waits for a stop signal, reaping zombies on SIGCHLD meanwhile.
func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (userservice-operator local cluster)")
		return
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			return
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

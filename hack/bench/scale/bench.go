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

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// noiseNamespace holds the unrelated objects of rss_growth.
const noiseNamespace = "bench-noise"

// config is what the launcher passes on the command line.
type config struct {
	n         int
	namespace string
	timeout   time.Duration // for creating the instances, or the noise, and waiting for them
	procs     procs
	// Operator phase only.
	baseline   string // the direct phase's output
	metricsURL string
	idle       time.Duration
	noise      int
}

// directPhase waits for a quiet machine, then creates the children of n
// instances directly and prints direct_seconds and the CPU each cluster
// process used meanwhile.
func directPhase(ctx context.Context, c client.WithWatch, cfg config) error {
	if err := cfg.procs.waitQuiet(ctx); err != nil {
		return err
	}
	before := cfg.procs.cpu()
	if _, err := timed(ctx, os.Stdout, "direct_seconds", cfg.timeout, func(ctx context.Context) error {
		return direct(ctx, c, cfg.namespace, cfg.n)
	}); err != nil {
		return err
	}
	printCPU("direct", before, cfg.procs.cpu())
	return nil
}

// operatorPhase measures the operator that the launcher started: the time
// to take n UserServices to Ready and the CPU used meanwhile (and the ratio
// to the direct phase's time), then its writes while idle, then its memory
// before and after unrelated objects appear.
func operatorPhase(ctx context.Context, c client.WithWatch, cfg config) error {
	direct, err := readBaseline(cfg.baseline)
	if err != nil {
		return err
	}
	if err := cfg.procs.waitQuiet(ctx); err != nil {
		return err
	}
	before := cfg.procs.cpu()
	op, err := timed(ctx, os.Stdout, "operator_seconds", cfg.timeout, func(ctx context.Context) error {
		return viaOperator(ctx, c, cfg.namespace, cfg.n)
	})
	if err != nil {
		return err
	}
	printCPU("operator", before, cfg.procs.cpu())
	fmt.Printf("create_ratio=%.2f\n", op/direct)

	m := metrics{url: cfg.metricsURL, client: &http.Client{Timeout: 10 * time.Second}}
	w0, err := settle(ctx, m)
	if err != nil {
		return err
	}
	logf("idle: counting the operator's writes over %ds", int(cfg.idle.Seconds()))
	if err := sleep(ctx, cfg.idle); err != nil {
		return err
	}
	w1, err := m.writes(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("idle_writes=%d\n", w1-w0)
	return memory(ctx, c, cfg, m)
}

// readBaseline returns direct_seconds from the direct phase's output.
func readBaseline(file string) (float64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("reading the direct phase's output: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "direct_seconds="); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("%s has no direct_seconds= line: run the direct phase first", file)
}

// settle waits until the operator has made no write for 10 s (at most about
// 120 s), prints settle_seconds and returns the writes so far.
func settle(ctx context.Context, m metrics) (int64, error) {
	logf("settling: waiting until the operator has made no write for 10s (at most 120s)")
	start := time.Now()
	was, err := m.writes(ctx)
	for err == nil {
		if err = sleep(ctx, 10*time.Second); err != nil {
			break
		}
		var now int64
		if now, err = m.writes(ctx); err != nil {
			break
		}
		still := now != was
		if still && time.Since(start) < 120*time.Second {
			was = now
			continue
		}
		if still {
			logf("still writing after 120s of settling")
		}
		fmt.Printf("settle_seconds=%d\n", int(time.Since(start).Seconds()))
		return now, nil
	}
	return 0, err
}

// memory prints the operator's RSS and Go heap with n UserServices, adds
// the noise objects, waits until the RSS is steady, and prints them again
// with the RSS growth and the operator's writes in all.
func memory(ctx context.Context, c client.Client, cfg config, m metrics) error {
	rss0, err := cfg.procs.rssKiB()
	if err != nil {
		return err
	}
	heap, err := m.heapInuseMiB(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("rss_mib_at_n=%.1f\n", float64(rss0)/1024)
	fmt.Printf("heap_inuse_mib_at_n=%.1f\n", heap)
	logf("adding %d unrelated 4 KiB Secrets and ConfigMaps", cfg.noise)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: noiseNamespace}}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", noiseNamespace, err)
	}
	if _, err := timed(ctx, os.Stderr, "noise_seconds", cfg.timeout, func(ctx context.Context) error {
		return noise(ctx, c, noiseNamespace, cfg.noise)
	}); err != nil {
		return err
	}
	rss1, err := steadyRSS(ctx, cfg.procs)
	if err != nil {
		return err
	}
	if heap, err = m.heapInuseMiB(ctx); err != nil {
		return err
	}
	w, err := m.writes(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("heap_inuse_mib_after_noise=%.1f\n", heap)
	fmt.Printf("rss_mib_after_noise=%.1f\n", float64(rss1)/1024)
	fmt.Printf("rss_growth=%.3f\n", float64(rss1-rss0)/float64(rss0))
	fmt.Printf("operator_writes_total=%d\n", w)
	return nil
}

// steadyRSS lets any informer that would cache the noise do so (30 s), then
// waits until the operator's RSS changes by less than 1 MiB in 10 s (at most
// 150 s more), as it was before the noise after the idle window, and returns it.
func steadyRSS(ctx context.Context, p procs) (int64, error) {
	if err := sleep(ctx, 30*time.Second); err != nil {
		return 0, err
	}
	start := time.Now()
	rss, err := p.rssKiB()
	for err == nil {
		prev := rss
		if err = sleep(ctx, 10*time.Second); err != nil {
			break
		}
		if rss, err = p.rssKiB(); err != nil {
			break
		}
		if d := rss - prev; d*d < 1024*1024 {
			return rss, nil
		}
		if time.Since(start) >= 150*time.Second {
			logf("RSS still moving after 150s")
			return rss, nil
		}
	}
	return 0, err
}

// timed runs f with a timeout, prints key=<seconds> to w, with two decimals,
// and returns the seconds as printed.
func timed(ctx context.Context, w io.Writer, key string, timeout time.Duration,
	f func(context.Context) error) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if err := f(ctx); err != nil {
		return 0, err
	}
	s := fmt.Sprintf("%.2f", time.Since(start).Seconds())
	if _, err := fmt.Fprintf(w, "%s=%s\n", key, s); err != nil {
		return 0, fmt.Errorf("writing %s: %w", key, err)
	}
	return strconv.ParseFloat(s, 64)
}

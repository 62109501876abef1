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
package controller

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// secretHashOf returns the secret-hash annotation of the Deployment's pod template in ns.
func secretHashOf(ns string) string {
	d := &appsv1.Deployment{}
	ExpectWithOffset(1, getObj(ns, "users", d)).To(Succeed())
	return d.Spec.Template.Annotations[resources.AnnotationSecretHash]
}

// heapInUse returns the bytes of live heap objects after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

var _ = Describe("Secrets", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("keeps a pod-template secret hash that reveals nothing about the values and rolls on a change", func() {
		const dbURL, jwtValue = "postgres://u:p@db:5432/users", "a-weak-but-long-enough-jwt-signing-secret"
		other := newNamespace()
		for _, n := range []string{ns, other} {
			createSecret(n, "jwt", "key", jwtValue)
			readyWith(n, func(us *appsv1alpha1.UserService) {
				us.Spec.Auth.JWTSecretRef = &appsv1alpha1.JWTSecretRef{Name: "jwt", Key: "key"}
			})
		}
		first := secretHashOf(ns)
		Expect(first).NotTo(BeEmpty())

		By("not being the unsalted hash that a reader of Deployments could check guesses against")
		h := sha256.New()
		for _, part := range []string{"DATABASE_URL", dbURL, "JWT_SECRET", jwtValue} {
			_, _ = fmt.Fprintf(h, "%d:%s", len(part), part)
		}
		Expect(first).NotTo(Equal(hex.EncodeToString(h.Sum(nil))[:16]))

		By("differing between two UserServices whose Secrets hold the same values")
		Expect(secretHashOf(other)).NotTo(Equal(first))

		By("staying the same for a restarted operator, which writes nothing")
		restarted, writes := countingReconciler()
		restarted.secrets = newReferencedSecrets()
		reconcileTimes(restarted, ns, 2)
		expectNoWrites(writes, "write requests of a restarted operator")
		Expect(secretHashOf(ns)).To(Equal(first))

		By("changing when the database URL rotates")
		db := &corev1.Secret{}
		Expect(getObj(ns, "db", db)).To(Succeed())
		db.Data["url"] = []byte("postgres://u:rotated@db:5432/users")
		Expect(k8sClient.Update(ctx, db)).To(Succeed())
		Eventually(func() string { return secretHashOf(ns) }).ShouldNot(Equal(first))
	})

	It("reads a Secret's metadata alone, and its label, through the API server's metadata endpoint", func() {
		s := createSecret(ns, "api", "key", "value")
		s.Labels = map[string]string{"userservice.dev/allowed": "true"}
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		sel, err := ParseSecretLabel("userservice.dev/allowed=true")
		Expect(err).NotTo(HaveOccurred())
		c := newReferencedSecrets()
		c.use(client.ObjectKey{Namespace: ns, Name: "users"}, []client.ObjectKey{client.ObjectKeyFromObject(s)})
		info, err := c.meta(ctx, reconciler.APIReader, sel, client.ObjectKeyFromObject(s))
		Expect(err).NotTo(HaveOccurred())
		Expect(info.labelled).To(BeTrue())
		Expect(info.resourceVersion).To(Equal(s.ResourceVersion))
		Expect(c.secrets[client.ObjectKeyFromObject(s)].entry.sums).To(BeEmpty())
	})

	It("keeps the heap flat when 2,000 labelled 100 KiB Secrets that no UserService owns appear", func() {
		readyWith(ns, nil)
		before := heapInUse()

		By("creating 2,000 Secrets of 100 KiB labelled managed-by=userservice-operator")
		label := map[string]string{resources.LabelManagedBy: resources.ManagedBy, "test": "heap"}
		DeferCleanup(func() {
			Expect(k8sClient.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns), client.MatchingLabels{"test": "heap"})).
				To(Succeed())
		})
		errs := make(chan error, 2000)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < 2000; i += 8 {
					value := make([]byte, 100<<10)
					_, _ = rand.Read(value)
					errs <- k8sClient.Create(ctx, &corev1.Secret{
						ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("noise-%04d", i), Labels: label},
						Data:       map[string][]byte{"blob": value},
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			Expect(err).NotTo(HaveOccurred())
		}

		By("rotating the database URL: once the pods roll, the operator has seen every Secret event before it")
		hash := secretHashOf(ns)
		db := &corev1.Secret{}
		Expect(getObj(ns, "db", db)).To(Succeed())
		db.Data["url"] = []byte("postgres://u:rotated@db:5432/users")
		Expect(k8sClient.Update(ctx, db)).To(Succeed())
		Eventually(func() string { return secretHashOf(ns) }).ShouldNot(Equal(hash))

		after := heapInUse()
		growth := int64(after) - int64(before)
		GinkgoWriter.Printf("heap in use: %.1f MiB before, %.1f MiB after 2,000 Secrets of 100 KiB (%+.1f MiB)\n",
			float64(before)/(1<<20), float64(after)/(1<<20), float64(growth)/(1<<20))
		Expect(growth).To(BeNumerically("<", 20<<20), "the 2,000 Secrets weigh 200 MB; the operator must hold none of their data")
	})
})

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
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

const (
	imageV1 = "ghcr.io/userservice-dev/user-service:v1"
	imageV2 = "ghcr.io/userservice-dev/user-service:v2"
	imageV3 = "ghcr.io/userservice-dev/user-service:v3"
)

var _ = Describe("UserService controller", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("creates every child with the documented contents", func() {
		readyWith(ns, nil)

		By("the Deployment")
		d := &appsv1.Deployment{}
		Expect(getObj(ns, "users", d)).To(Succeed())
		Expect(d.Labels).To(And(HaveKeyWithValue(resources.LabelName, "user-service"),
			HaveKeyWithValue(resources.LabelInstance, "users"),
			HaveKeyWithValue(resources.LabelManagedBy, "userservice-operator"),
			HaveKeyWithValue(resources.LabelVersion, "v1")))
		Expect(d.Spec.Selector.MatchLabels).To(Equal(map[string]string{
			resources.LabelName: "user-service", resources.LabelInstance: "users"}))
		Expect(*d.Spec.Replicas).To(Equal(int32(2)))
		Expect(d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue()).To(Equal(0))
		c := d.Spec.Template.Spec.Containers[0]
		Expect(c.Args).To(Equal([]string{"serve"}))
		Expect(c.Ports).To(ConsistOf(HaveField("Name", "http"), HaveField("ContainerPort", int32(50051))))
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/health"))
		Expect(c.ReadinessProbe.GRPC.Port).To(Equal(int32(50051)))
		Expect(c.StartupProbe).NotTo(BeNil())
		Expect(c.Lifecycle.PreStop.Sleep).NotTo(BeNil())
		Expect(*d.Spec.Template.Spec.TerminationGracePeriodSeconds).To(BeNumerically(">=", 30))
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(c.Resources.Requests.Memory().String()).To(Equal("64Mi"))
		Expect(d.Spec.Template.Annotations).To(HaveKey(resources.AnnotationSecretHash))
		for _, e := range c.Env {
			if e.Name == "DATABASE_URL" || e.Name == "JWT_SECRET" {
				Expect(e.Value).To(BeEmpty(), e.Name+" must come from a secretKeyRef")
				Expect(e.ValueFrom.SecretKeyRef).NotTo(BeNil())
			}
		}

		By("the Service, the generated JWT Secret, the PodDisruptionBudget and the succeeded Job")
		svc := &corev1.Service{}
		Expect(getObj(ns, "users", svc)).To(Succeed())
		Expect(svc.Spec.Ports[0].Port).To(Equal(int32(80)))
		Expect(svc.Spec.Ports[0].TargetPort).To(Equal(intstr.FromString("http")))
		Expect(svc.Spec.Ports[1].Name).To(Equal("grpc"))
		Expect(*svc.Spec.Ports[1].AppProtocol).To(Equal("grpc"))
		jwt := &corev1.Secret{}
		Expect(getObj(ns, "users-jwt", jwt)).To(Succeed())
		Expect(len(jwt.Data["jwt-secret"])).To(BeNumerically(">=", 32))
		pdb := &policyv1.PodDisruptionBudget{}
		Expect(getObj(ns, "users", pdb)).To(Succeed())
		Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))
		job := migrationJob(ns, imageV1)
		Expect(job.Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"migrate", "up"}))
		Expect(job.Spec.Template.Spec.Containers[0].Env).To(Equal(slices.DeleteFunc(slices.Clone(c.Env),
			func(e corev1.EnvVar) bool { return e.Name == "JWT_SECRET" || e.Name == "GRPC_PORT" })),
			"the Job has the Deployment's env but JWT_SECRET and GRPC_PORT")
		Expect(c.Env).To(ContainElement(HaveField("Name", "JWT_SECRET")))
		Eventually(func() *int32 {
			Expect(getObj(ns, job.Name, job)).To(Succeed())
			return job.Spec.TTLSecondsAfterFinished
		}).ShouldNot(BeNil(), "a succeeded Job keeps the TTL it was created with")
		Expect(apierrors.IsNotFound(getObj(ns, "users", &autoscalingv2.HorizontalPodAutoscaler{}))).To(BeTrue())

		By("the status")
		us := getUS(ns)
		Expect(us.Status.Image).To(Equal(imageV1))
		Expect(us.Status.MigratedImage).To(Equal(imageV1))
		Expect(us.Status.MigrationJob).To(Equal(job.Name))
		Expect(us.Status.ServiceURL).To(Equal("http://users." + ns + ".svc:80"))
		Expect(us.Status.Selector).To(Equal("app.kubernetes.io/instance=users,app.kubernetes.io/name=user-service"))
		Expect(us.Status.ReplicasSummary).To(Equal("2/2"))
		Eventually(func() []string { return eventReasons(ns) }).Should(ContainElements(
			EventSecretGenerated, EventMigrationStarted, EventMigrationSucceeded, EventRolloutComplete))
		Consistently(func() int { return eventOccurrences(ns, EventMigrationSucceeded) }).Should(Equal(1),
			"the success of one Job is recorded once")
	})

	It("sets owner references on every child so the garbage collector deletes them", func() {
		readyWith(ns, nil)
		us := getUS(ns)
		jwt := &corev1.Secret{}
		Expect(getObj(ns, "users-jwt", jwt)).To(Succeed())
		children := []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &policyv1.PodDisruptionBudget{},
			jwt, migrationJob(ns, imageV1)}
		for _, obj := range children[:3] {
			Expect(getObj(ns, "users", obj)).To(Succeed())
		}
		for _, obj := range children {
			Expect(obj.GetOwnerReferences()).To(ConsistOf(And(
				HaveField("UID", us.UID), HaveField("Kind", "UserService"),
				HaveField("Controller", HaveValue(BeTrue())), HaveField("BlockOwnerDeletion", HaveValue(BeTrue())),
			)), describe(obj))
		}
	})

	It("reports DatabaseSecretNotFound and reconciles when the Secret appears later", func() {
		createUserService(ns, nil)
		Eventually(func() metav1.Condition { return condition(ns, "Ready") }).Should(And(
			haveCondition(metav1.ConditionFalse, ReasonDatabaseSecretNotFound),
			HaveField("Message", And(ContainSubstring(`"db"`), ContainSubstring(`"url"`)))))
		Consistently(func() ([]batchv1.Job, error) {
			var jobs batchv1.JobList
			return jobs.Items, k8sClient.List(ctx, &jobs, client.InNamespace(ns))
		}).Should(BeEmpty())

		By("creating the Secret without the key")
		s := createSecret(ns, "db", "wrong", "x")
		Eventually(func() string { return condition(ns, "Ready").Message }).Should(ContainSubstring(`has no key "url"`))

		By("adding the key: the metadata watch triggers a reconcile without a resync")
		s.Data = map[string][]byte{"url": []byte("postgres://u:p@db/users")}
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		migrationJob(ns, imageV1)
		Eventually(func() metav1.Condition { return condition(ns, "Progressing") }).
			Should(haveCondition(metav1.ConditionTrue, ReasonMigrating))
	})

	It("sets Ready with the current observedGeneration on the status and every condition", func() {
		readyWith(ns, nil)
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.LogLevel = "debug" })
		gen := getUS(ns).Generation
		Eventually(func() int64 { return getUS(ns).Status.ObservedGeneration }).Should(Equal(gen))
		By("migrating again, as LOG_LEVEL is part of the migration Job's spec")
		succeedMigration(ns, getUS(ns).Spec.Image)
		rollOutDeployment(ns)
		Eventually(func() metav1.Condition { return condition(ns, "Ready") }).Should(And(
			haveCondition(metav1.ConditionTrue, ReasonRolloutComplete), HaveField("ObservedGeneration", gen)))
		for _, c := range getUS(ns).Status.Conditions {
			Expect(c.ObservedGeneration).To(Equal(gen), c.Type)
		}
	})

	It("changes the pod-template hash when a referenced Secret rotates", func() {
		createSecret(ns, "jwt", "key", strings.Repeat("k", 40))
		readyWith(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.Auth.JWTSecretRef = &appsv1alpha1.JWTSecretRef{Name: "jwt", Key: "key"}
		})
		hash := func() string {
			d := &appsv1.Deployment{}
			Expect(getObj(ns, "users", d)).To(Succeed())
			return d.Spec.Template.Annotations[resources.AnnotationSecretHash]
		}
		first := hash()
		Expect(apierrors.IsNotFound(getObj(ns, "users-jwt", &corev1.Secret{}))).To(BeTrue(),
			"no JWT Secret is generated when spec.auth.jwtSecretRef is set")

		By("rotating the database URL")
		db := &corev1.Secret{}
		Expect(getObj(ns, "db", db)).To(Succeed())
		db.Data["url"] = []byte("postgres://u:rotated@db/users")
		Expect(k8sClient.Update(ctx, db)).To(Succeed())
		Eventually(hash).ShouldNot(Equal(first))
		second := hash()

		By("rotating the JWT secret")
		jwt := &corev1.Secret{}
		Expect(getObj(ns, "jwt", jwt)).To(Succeed())
		jwt.Data["key"] = []byte(strings.Repeat("r", 40))
		Expect(k8sClient.Update(ctx, jwt)).To(Succeed())
		Eventually(hash).ShouldNot(Equal(second))
	})

	It("reports EventsSecretNotFound until spec.events.amqpURLSecretRef exists, then sets AMQP_URL and rolls the pods when it rotates", func() {
		createSecret(ns, "db", "url", "postgres://u:p@db:5432/users")
		createUserService(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.Events.AMQPURLSecretRef = &appsv1alpha1.AMQPURLSecretRef{Name: "rabbitmq"}
		})
		Eventually(func() metav1.Condition { return condition(ns, "Degraded") }).Should(And(
			haveCondition(metav1.ConditionTrue, ReasonEventsSecretNotFound),
			HaveField("Message", And(ContainSubstring(`"rabbitmq"`), ContainSubstring(`"url"`)))))
		Expect(apierrors.IsNotFound(getObj(ns, "users", &appsv1.Deployment{}))).To(BeTrue(),
			"no Deployment may run without its AMQP_URL")

		By("creating the Secret: the metadata watch triggers a reconcile")
		amqp := createSecret(ns, "rabbitmq", "url", "amqp://u:p1@rabbitmq:5672/")
		succeedMigration(ns, imageV1)
		Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV1))
		d := &appsv1.Deployment{}
		Expect(getObj(ns, "users", d)).To(Succeed())
		Expect(d.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "AMQP_URL",
			ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "rabbitmq"}, Key: "url"}}}))
		hash := func() string {
			Expect(getObj(ns, "users", d)).To(Succeed())
			return d.Spec.Template.Annotations[resources.AnnotationSecretHash]
		}
		first := hash()

		By("rotating the AMQP URL")
		amqp.Data["url"] = []byte("amqp://u:p2@rabbitmq:5672/")
		Expect(k8sClient.Update(ctx, amqp)).To(Succeed())
		Eventually(hash).ShouldNot(Equal(first))
	})

	It("never regenerates the generated JWT Secret", func() {
		readyWith(ns, nil)
		jwt := &corev1.Secret{}
		Expect(getObj(ns, "users-jwt", jwt)).To(Succeed())
		value := string(jwt.Data["jwt-secret"])
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Image = imageV2 })
		succeedMigration(ns, imageV2)
		Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV2))
		Expect(getObj(ns, "users-jwt", jwt)).To(Succeed())
		Expect(string(jwt.Data["jwt-secret"])).To(Equal(value))
	})

	It("leaves a same-named JWT Secret it did not create alone and reports ResourceConflict", func() {
		foreign := createSecret(ns, "users-jwt", "other", "not-the-operators")
		createSecret(ns, "db", "url", "postgres://u:p@db:5432/users")
		createUserService(ns, nil)
		Eventually(func() metav1.Condition { return condition(ns, "Degraded") }).Should(And(
			haveCondition(metav1.ConditionTrue, ReasonResourceConflict),
			HaveField("Message", And(ContainSubstring(`Secret "users-jwt"`), ContainSubstring("spec.auth.jwtSecretRef")))))
		Expect(condition(ns, "Ready").Reason).To(Equal(ReasonResourceConflict))

		By("reconciling again without a write, in particular no failing Create")
		again, writes := countingReconciler()
		reconcileTimes(again, ns, 2)
		expectNoWrites(writes, "write requests, Events included, while the conflict lasts")
		got := &corev1.Secret{}
		Expect(getObj(ns, "users-jwt", got)).To(Succeed())
		Expect(got.OwnerReferences).To(BeEmpty())
		Expect(got.Data).To(Equal(foreign.Data))
		Expect(apierrors.IsNotFound(getObj(ns, resources.MigrationJobName(getUS(ns), imageV1), &batchv1.Job{}))).To(BeTrue())

		By("generating the Secret once the foreign one is deleted: its watch event brings a reconcile")
		Expect(k8sClient.Delete(ctx, foreign)).To(Succeed())
		Eventually(func() ([]metav1.OwnerReference, error) {
			err := getObj(ns, "users-jwt", got)
			return got.OwnerReferences, err
		}).Should(HaveLen(1))
	})

	It("writes nothing when a reconcile has nothing to do", func() {
		installServiceMonitorCRD()
		readyWith(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.Env = []corev1.EnvVar{{Name: "Z", Value: "1"}, {Name: "A", Value: "2"}}
			us.Spec.Autoscaling = &appsv1alpha1.AutoscalingSpec{MaxReplicas: 4}
			us.Spec.Service.Type = corev1.ServiceTypeNodePort
			withServiceMonitor(us)
			withNetworkPolicy(us)
		})
		objects := []client.Object{
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "users"}},
			&monitoringv1.ServiceMonitor{ObjectMeta: metav1.ObjectMeta{Name: "users"}},
			&appsv1alpha1.UserService{ObjectMeta: metav1.ObjectMeta{Name: "users"}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "users"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "users"}},
			&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "users"}},
			&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "users"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users-jwt"}},
			&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: resources.MigrationJobName(getUS(ns), imageV1)}},
		}
		versions := func() map[string]string {
			v := map[string]string{}
			for _, obj := range objects {
				Expect(getObj(ns, obj.GetName(), obj)).To(Succeed(), describe(obj))
				v[describe(obj)] = obj.GetResourceVersion()
			}
			return v
		}
		Eventually(func() bool { // Wait for the last status write to settle.
			return condition(ns, "Ready").Status == metav1.ConditionTrue &&
				condition(ns, appsv1alpha1.ConditionServiceMonitorReady).Status == metav1.ConditionTrue
		}).Should(BeTrue())
		before := versions()
		idle, writes := countingReconciler()
		reconcileTimes(idle, ns, 3)
		expectNoWrites(writes, "write requests (no-op server-side applies and Events count too) in 3 idle reconciles")
		Expect(versions()).To(Equal(before))
		Consistently(versions).Should(Equal(before))
	})

	It("reports InvalidSpec with the API server's message when it rejects a child, and recovers once the spec is fixed", func() {
		createSecret(ns, "db", "url", "postgres://u:p@db:5432/users")
		createUserService(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
				MaxSkew: 0, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		})
		Eventually(func() metav1.Condition { return condition(ns, "Degraded") }).Should(And(
			haveCondition(metav1.ConditionTrue, ReasonInvalidSpec),
			HaveField("Message", And(ContainSubstring("migration"), ContainSubstring("users-migrate-"),
				ContainSubstring("spec.template.spec.topologySpreadConstraints[0].maxSkew")))))
		Expect(condition(ns, "Ready")).To(haveCondition(metav1.ConditionFalse, ReasonInvalidSpec))
		Expect(condition(ns, "Progressing")).To(haveCondition(metav1.ConditionFalse, ReasonInvalidSpec))
		Expect(getUS(ns).Status.MigrationJob).To(BeEmpty(), "the status names no Job that was never created")

		By("keeping the status unchanged, with no retry loop")
		rv := getUS(ns).ResourceVersion
		Consistently(func() string { return getUS(ns).ResourceVersion }).Should(Equal(rv))

		By("fixing the spread and breaking a pod annotation key: the Deployment is rejected")
		updateUS(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.TopologySpreadConstraints[0].MaxSkew = 1
			us.Spec.PodTemplate.Annotations = map[string]string{"bad key": "x"}
		})
		succeedMigration(ns, imageV1)
		Eventually(func() metav1.Condition { return condition(ns, "Degraded") }).Should(And(
			haveCondition(metav1.ConditionTrue, ReasonInvalidSpec),
			HaveField("Message", And(ContainSubstring(`Deployment.apps "users" is invalid`), ContainSubstring("spec.template.annotations")))))

		By("fixing the annotation")
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.PodTemplate.Annotations = nil })
		Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV1))
		rollOutDeployment(ns)
		Eventually(func() metav1.Condition { return condition(ns, "Ready") }).
			Should(haveCondition(metav1.ConditionTrue, ReasonRolloutComplete))
		Expect(condition(ns, "Degraded")).To(haveCondition(metav1.ConditionFalse, ReasonAsExpected))
	})

	It("stops reconciling while paused and says so", func() {
		readyWith(ns, nil)
		updateUS(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.Paused = true
			us.Spec.Image = imageV2
		})
		Eventually(func() metav1.Condition { return condition(ns, "Progressing") }).
			Should(haveCondition(metav1.ConditionFalse, ReasonPaused))
		Consistently(func() error {
			return getObj(ns, resources.MigrationJobName(getUS(ns), imageV2), &batchv1.Job{})
		}).Should(Satisfy(apierrors.IsNotFound))

		By("resuming")
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Paused = false })
		succeedMigration(ns, imageV2)
		Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV2))
	})

	It("caches no Secret, not even its own", func() {
		readyWith(ns, nil)
		createSecret(ns, "unrelated", "k", "v")
		var list corev1.SecretList
		err := mgrCache.List(ctx, &list, client.InNamespace(ns))
		Expect(err).To(MatchError(ContainSubstring("not cached")), "the manager has no Secret informer, and starts none")
		Expect(list.Items).To(BeEmpty())
	})
})

{{/*
Names: every object is "<fullname>-<component>", so two releases can share a namespace.
*/}}
{{- define "chat-suite.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chat-suite.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The services: their names, the values key of their settings and their contract port. */}}
{{- define "chat-suite.components" -}}
- name: auth-api
  key: authApi
  port: 8081
- name: user-search
  key: userSearch
  port: 8082
- name: chat-gateway
  key: chatGateway
  port: 8083
{{- if .Values.notifier.enabled }}
- name: notifier
  key: notifier
  port: 8084
{{- end }}
{{- end }}

{{/* "<fullname>-<component>"; call with (dict "root" $ "component" "auth-api"). */}}
{{- define "chat-suite.componentName" -}}
{{- printf "%s-%s" (include "chat-suite.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chat-suite.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/part-of: chat-suite
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Selector labels of one component; never change them, selectors are immutable. */}}
{{- define "chat-suite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chat-suite.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "chat-suite.componentLabels" -}}
{{ include "chat-suite.labels" .root }}
{{ include "chat-suite.selectorLabels" . }}
{{- end }}

{{- define "chat-suite.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Where each secret value comes from: the user's existing Secret, or the chart's own
("<fullname>"), which holds only the values that have no existing Secret.
*/}}
{{- define "chat-suite.secretName" -}}
{{- include "chat-suite.fullname" . }}
{{- end }}

{{- define "chat-suite.createSecret" -}}
{{- $v := .Values }}
{{- if or (not $v.database.existingSecret) (not $v.redis.existingSecret) (not $v.jwt.existingSecret) (and $v.kafka.properties (not $v.kafka.existingSecret)) }}true{{ end }}
{{- end }}

{{- define "chat-suite.databaseSecretName" -}}
{{- default (include "chat-suite.secretName" .) .Values.database.existingSecret }}
{{- end }}
{{- define "chat-suite.databaseSecretKey" -}}
{{- ternary .Values.database.existingSecretKey "DATABASE_URL" (ne .Values.database.existingSecret "") }}
{{- end }}

{{- define "chat-suite.redisSecretName" -}}
{{- default (include "chat-suite.secretName" .) .Values.redis.existingSecret }}
{{- end }}
{{- define "chat-suite.redisSecretKey" -}}
{{- ternary .Values.redis.existingSecretKey "REDIS_URL" (ne .Values.redis.existingSecret "") }}
{{- end }}

{{- define "chat-suite.jwtSecretName" -}}
{{- default (include "chat-suite.secretName" .) .Values.jwt.existingSecret }}
{{- end }}
{{- define "chat-suite.jwtSecretKey" -}}
{{- ternary .Values.jwt.existingSecretKey "jwt-signing-key.pem" (ne .Values.jwt.existingSecret "") }}
{{- end }}

{{- define "chat-suite.kafkaSecretName" -}}
{{- default (include "chat-suite.secretName" .) .Values.kafka.existingSecret }}
{{- end }}
{{- define "chat-suite.kafkaSecretKey" -}}
{{- ternary .Values.kafka.existingSecretKey "KAFKA_PROPERTIES" (ne .Values.kafka.existingSecret "") }}
{{- end }}

{{/* The read replica's URL as an env entry, when there is one (user-search, chat-gateway). */}}
{{- define "chat-suite.databaseReadEnv" -}}
{{- $d := .Values.database }}
{{- if or (and $d.existingSecret $d.readExistingSecretKey) (and (not $d.existingSecret) $d.readUrl) }}
- name: DATABASE_READ_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "chat-suite.databaseSecretName" . }}
      key: {{ ternary $d.readExistingSecretKey "DATABASE_READ_URL" (ne $d.existingSecret "") }}
{{- end }}
{{- end }}

{{/*
The TLS files of Redis (redis.tls): where the Secret's keys are mounted, and the variables that
name them. Fixed file names, whatever the keys are called in the Secret.
*/}}
{{- define "chat-suite.redisTlsDir" -}}/etc/chat-suite/redis-tls{{- end }}
{{- define "chat-suite.redisTlsEnv" -}}
{{- $t := .Values.redis.tls }}
{{- if $t.existingSecret }}
{{- if $t.caKey }}
- name: REDIS_CA_FILE
  value: {{ include "chat-suite.redisTlsDir" . }}/ca.pem
{{- end }}
{{- if $t.certKey }}
- name: REDIS_CLIENT_CERT_FILE
  value: {{ include "chat-suite.redisTlsDir" . }}/client.pem
- name: REDIS_CLIENT_KEY_FILE
  value: {{ include "chat-suite.redisTlsDir" . }}/client-key.pem
{{- end }}
{{- end }}
{{- end }}

{{/* The database URL as an env entry; the migration hook has a Secret of its own. */}}
{{- define "chat-suite.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ include "chat-suite.databaseSecretKey" .root }}
{{- end }}

{{/*
What JSON schema cannot say: relations between values. Failing here stops an install before
anything reaches the cluster.
*/}}
{{- define "chat-suite.validate" -}}
{{- range $c := include "chat-suite.components" . | fromYamlArray }}
{{- $s := index $.Values $c.key }}
{{- /* The grace period runs from deletion: the preStop sleep spends part of it. */}}
{{- if not (hasKey $s "preStopSleepSeconds") }}
{{- /* The notifier has none: nothing routes to it. */}}
{{- if le (int $s.terminationGracePeriodSeconds) (int $s.shutdownGraceSeconds) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) must exceed %s.shutdownGraceSeconds (%v): the pod would be killed mid-drain" $c.key $s.terminationGracePeriodSeconds $c.key $s.shutdownGraceSeconds) }}
{{- end }}
{{- else if le (int $s.terminationGracePeriodSeconds) (add (int $s.preStopSleepSeconds) (int $s.shutdownGraceSeconds)) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) must exceed %s.preStopSleepSeconds (%v) + %s.shutdownGraceSeconds (%v): the pod would be killed mid-drain" $c.key $s.terminationGracePeriodSeconds $c.key $s.preStopSleepSeconds $c.key $s.shutdownGraceSeconds) }}
{{- end }}
{{- if and (dig "autoscaling" "enabled" false $s) (gt (int $s.autoscaling.minReplicas) (int $s.autoscaling.maxReplicas)) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) must not exceed maxReplicas (%v)" $c.key $s.autoscaling.minReplicas $s.autoscaling.maxReplicas) }}
{{- end }}
{{- end }}
{{- $ws := .Values.chatGateway.websocket }}
{{- if le (int $ws.idleTimeoutSeconds) (int $ws.pingIntervalSeconds) }}
{{- fail (printf "chatGateway.websocket.idleTimeoutSeconds (%v) must exceed pingIntervalSeconds (%v), or live clients are cut off between pings" $ws.idleTimeoutSeconds $ws.pingIntervalSeconds) }}
{{- end }}
{{- if and .Values.ingress.tls.enabled (not .Values.ingress.host) }}
{{- fail "ingress.tls.enabled needs ingress.host: a certificate is for a host" }}
{{- end }}
{{- $rt := .Values.redis.tls }}
{{- if ne (empty $rt.certKey) (empty $rt.keyKey) }}
{{- fail "redis.tls.certKey and redis.tls.keyKey go together: a client certificate needs its key" }}
{{- end }}
{{- if and $rt.existingSecret (not $rt.caKey) (not $rt.certKey) }}
{{- fail "redis.tls.existingSecret needs caKey, or certKey and keyKey: which of its keys to mount" }}
{{- end }}
{{- if and (not $rt.existingSecret) $rt.certKey }}
{{- fail "redis.tls.certKey needs redis.tls.existingSecret, the Secret that holds it" }}
{{- end }}
{{- if and $rt.existingSecret (not .Values.redis.existingSecret) (not (hasPrefix "rediss" .Values.redis.url)) }}
{{- fail "redis.tls.existingSecret needs a TLS redis.url (rediss:// or rediss+cluster://)" }}
{{- end }}
{{- $n := .Values.notifier }}
{{- if $n.enabled }}
{{- if not .Values.kafka.brokers }}
{{- fail "notifier.enabled needs kafka.brokers: the notifier reads the notification events from Kafka" }}
{{- end }}
{{- if not (or $n.fcm.existingSecret $n.apns.existingSecret $n.webPush.existingSecret) }}
{{- fail "notifier.enabled needs a push provider: notifier.fcm.existingSecret, notifier.apns.existingSecret or notifier.webPush.existingSecret" }}
{{- end }}
{{- if and $n.apns.existingSecret (not (and $n.apns.keyId $n.apns.teamId $n.apns.topic)) }}
{{- fail "notifier.apns.existingSecret needs notifier.apns.keyId, teamId and topic (the key's id, the team id, the app's bundle id)" }}
{{- end }}
{{- if and $n.webPush.existingSecret (not $n.webPush.subject) }}
{{- fail "notifier.webPush.existingSecret needs notifier.webPush.subject: a mailto: or https: contact push services can reach" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Push (the notifier): each provider is on when its Secret is named. Their files are projected
into one read-only directory of the notifier, under fixed names whatever the Secrets' keys are
called; auth-api gets the VAPID key alone, at the same path, when Web Push is on.
*/}}
{{- define "chat-suite.pushDir" -}}/etc/chat-suite/push{{- end }}
{{- define "chat-suite.webPushOn" -}}
{{- if and .Values.notifier.enabled .Values.notifier.webPush.existingSecret }}true{{ end }}
{{- end }}

{{/* The notifier's own variables, as env entries. */}}
{{- define "chat-suite.notifierEnv" -}}
{{- $n := .Values.notifier }}
{{- $dir := include "chat-suite.pushDir" . }}
- name: NOTIFIER_GROUP_ID
  value: {{ $n.groupId | quote }}
{{- /* Static membership under the pod's name: a container restarted in its pod takes its
       partitions back at once, not after the broker gives up on the old one. */}}
- name: NOTIFIER_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: NOTIFIER_LEASE_SECONDS
  value: {{ $n.leaseSeconds | quote }}
- name: PUSH_PREVIEW
  value: {{ $n.preview | quote }}
- name: PUSH_TTL_SECONDS
  value: {{ $n.ttlSeconds | quote }}
{{- if $n.fcm.existingSecret }}
- name: FCM_SERVICE_ACCOUNT_FILE
  value: {{ $dir }}/fcm-service-account.json
- name: FCM_API_URL
  value: {{ $n.fcm.apiUrl | quote }}
{{- end }}
{{- if $n.apns.existingSecret }}
- name: APNS_KEY_FILE
  value: {{ $dir }}/apns-key.p8
- name: APNS_KEY_ID
  value: {{ $n.apns.keyId | quote }}
- name: APNS_TEAM_ID
  value: {{ $n.apns.teamId | quote }}
- name: APNS_TOPIC
  value: {{ $n.apns.topic | quote }}
- name: APNS_URL
  value: {{ $n.apns.url | quote }}
{{- end }}
{{- if $n.webPush.existingSecret }}
- name: VAPID_SUBJECT
  value: {{ $n.webPush.subject | quote }}
{{- end }}
{{- if $n.caBundle.existingSecret }}
- name: PUSH_CA_FILE
  value: {{ $dir }}/push-ca.pem
{{- end }}
{{- end }}

{{/* The notifier's key files: one projected volume of the providers' Secrets. */}}
{{- define "chat-suite.notifierKeysVolume" -}}
{{- $n := .Values.notifier }}
- name: push-keys
  projected:
    # Owned by root; group-readable for the pod's fsGroup, as the signing key is.
    defaultMode: 0440
    sources:
      {{- with $n.fcm }}
      {{- if .existingSecret }}
      - secret:
          name: {{ .existingSecret }}
          items:
            - key: {{ .existingSecretKey }}
              path: fcm-service-account.json
      {{- end }}
      {{- end }}
      {{- with $n.apns }}
      {{- if .existingSecret }}
      - secret:
          name: {{ .existingSecret }}
          items:
            - key: {{ .existingSecretKey }}
              path: apns-key.p8
      {{- end }}
      {{- end }}
      {{- with $n.webPush }}
      {{- if .existingSecret }}
      - secret:
          name: {{ .existingSecret }}
          items:
            - key: {{ .existingSecretKey }}
              path: vapid-private-key.pem
      {{- end }}
      {{- end }}
      {{- with $n.caBundle }}
      {{- if .existingSecret }}
      - secret:
          name: {{ .existingSecret }}
          items:
            - key: {{ .existingSecretKey }}
              path: push-ca.pem
      {{- end }}
      {{- end }}
{{- end }}

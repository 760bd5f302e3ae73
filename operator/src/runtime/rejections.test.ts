import { describe, expect, it } from '@jest/globals';
import { ApiError } from '../kube/client.js';
import { isPermanentRejection } from './errors.js';
import { OperatorMetrics } from './metrics.js';
import { ChildRejections } from './rejections.js';

const status = (code: number, message: string) => new ApiError(code, { kind: 'Status', code, message }, `POST: HTTP ${code}`);

describe('isPermanentRejection', () => {
  it.each([
    ['422 Invalid', status(422, 'Job.batch "r1-train" is invalid: spec.template.spec.tolerations[0].key: Invalid value'), true],
    ['400 BadRequest (e.g. a webhook denial without a code)', status(400, 'admission webhook "policy.example.com" denied the request: no GPUs here'), true],
    ['403 from a ValidatingAdmissionPolicy', status(403, 'jobs.batch "r1-train" is forbidden: ValidatingAdmissionPolicy \'cap\' with binding \'cap\' denied request: at most 2 CPUs'), true],
    ['403 from an admission webhook', status(403, 'admission webhook "policy.example.com" denied the request: no GPUs here'), true],
    ['403 from RBAC', status(403, 'jobs.batch is forbidden: User "system:serviceaccount:x:y" cannot create resource "jobs"'), false],
    ['403 from a quota', status(403, 'jobs.batch "r1-train" is forbidden: exceeded quota: compute, requested: count/jobs.batch=1'), false],
    ['409 AlreadyExists', status(409, 'jobs.batch "r1-train" already exists'), false],
    ['500', status(500, 'etcdserver: request timed out'), false],
    ['a network error', new Error('connect ECONNREFUSED 127.0.0.1:6443'), false],
    ['a 422 wrapped with context', new Error('create Job ns/r1', { cause: status(422, 'invalid') }), true],
  ])('%s', (_title, err, want) => {
    expect(isPermanentRejection(err)).toBe(want);
  });
});

describe('ChildRejections', () => {
  const job = (cpu: string) => ({ kind: 'Job', spec: { cpu } });

  it('sends a refused body once, then answers from memory until the body changes', async () => {
    const metrics = new OperatorMetrics();
    const rejections = new ChildRejections('trainingrun', metrics);
    let sent = 0;
    const refuse = async () => {
      sent++;
      throw status(422, 'Job.batch "r1-train" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: "8": must be less than or equal to cpu limit of 2');
    };
    const first = await rejections.attempt('ns/r1', 'Job', 'Job ns/r1-train', job('8'), refuse);
    expect(first).toEqual({ rejected: { child: 'Job ns/r1-train', message: expect.stringMatching(/^Job\.batch "r1-train" is invalid: .*cpu limit of 2$/) } });
    for (let i = 0; i < 5; i++) expect(await rejections.attempt('ns/r1', 'Job', 'Job ns/r1-train', job('8'), refuse)).toEqual(first);
    expect(sent).toBe(1);
    expect((await metrics.childRejections.get()).values).toEqual([{ labels: { controller: 'trainingrun', kind: 'Job' }, value: 1 }]);

    // A fixed spec builds another body: sent, and once accepted the refusal is forgotten.
    expect(await rejections.attempt('ns/r1', 'Job', 'Job ns/r1-train', job('1'), async () => 'created')).toEqual({ done: 'created' });
    expect(rejections.size()).toBe(0);
  });

  it('lets other errors through, so the pass is retried with backoff', async () => {
    const rejections = new ChildRejections('trainingrun');
    const unavailable = async () => {
      throw status(503, 'the server is currently unable to handle the request');
    };
    await expect(rejections.attempt('ns/r1', 'Job', 'Job ns/r1-train', job('8'), unavailable)).rejects.toThrow(/HTTP 503/);
    expect(rejections.size()).toBe(0);
  });

  it('trims a long message and reads it through a wrapping error', async () => {
    const rejections = new ChildRejections('scoringjob');
    const long = `Job.batch "s1" is invalid: ${'x'.repeat(5000)}`;
    const outcome = await rejections.attempt('ns/s1', 'Job', 'Job ns/s1', job('8'), async () => {
      throw new Error('create Job ns/s1', { cause: status(422, long) });
    });
    expect('rejected' in outcome && outcome.rejected.message).toMatch(/^Job\.batch "s1" is invalid: x{997}…$/);
    rejections.forget('ns/s1');
    expect(rejections.size()).toBe(0);
  });
});

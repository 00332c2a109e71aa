import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ENDINGS, ERRORS, FAILED_ENDINGS } from '../../frontend/static/frontend/error-codes.js';
import { describeClose, describeEnd, describeError, serviceOf } from '../../frontend/static/frontend/reasons.js';

test('an outage names the service that failed, not the avatar', () => {
  assert.match(describeError('stt_unavailable'), /Speech recognition/);
  assert.match(describeError('llm_unavailable'), /language model/);
  assert.match(describeError('avatar_unavailable'), /avatar service/);
  assert.equal(serviceOf('stt_unavailable'), 'stt');
  assert.equal(serviceOf('llm_rate_limited'), 'llm');
  assert.equal(serviceOf('mic_denied'), 'browser');
  assert.equal(serviceOf('no_such_code'), null);
});

test('every listed code has a sentence', () => {
  for (const [code, { text, service }] of Object.entries(ERRORS)) {
    assert.equal(describeError(code, 'server text'), text);
    assert.ok(service, code);
  }
});

test("an unknown code shows the server's message, or a generic one", () => {
  assert.equal(describeError('brand_new_code', 'The server says why.'), 'The server says why.');
  assert.equal(describeError('brand_new_code'), 'Something went wrong.');
  assert.equal(describeError(undefined, undefined), 'Something went wrong.');
});

test('a failed ending adds the server detail; a normal one does not', () => {
  assert.deepEqual(describeEnd('user', 'Conversation ended.'), { text: ENDINGS.user, failed: false });
  const failed = describeEnd('provider_error', 'The avatar service (D-ID) is not reachable.');
  assert.equal(failed.failed, true);
  assert.equal(failed.text, `${ENDINGS.provider_error} (The avatar service (D-ID) is not reachable.)`);
  assert.deepEqual(describeEnd('something_new', 'Ended for a new reason.'), { text: 'Ended for a new reason.', failed: false });
  assert.deepEqual(describeEnd('something_new'), { text: 'The conversation has ended.', failed: false });
  for (const reason of FAILED_ENDINGS) assert.equal(describeEnd(reason).failed, true);
});

test('close codes without a session.ended are explained', () => {
  assert.deepEqual(describeClose(4401), { reason: 'logged_out', text: ERRORS.logged_out.text });
  assert.deepEqual(describeClose(4429), { reason: 'session_limit', text: ERRORS.session_limit.text });
  assert.equal(describeClose(4404).reason, 'not_found');
  assert.equal(describeClose(4410).reason, 'ended');
  assert.equal(describeClose(1006).reason, 'closed');
});

test('the generated list cannot be changed at run time', () => {
  assert.ok(Object.isFrozen(ERRORS) && Object.isFrozen(ENDINGS) && Object.isFrozen(FAILED_ENDINGS));
});

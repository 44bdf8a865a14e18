/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROLES, assignableRoles, canManage, describeScope, isAdmin } from '../src/access';

describe('access', () => {
  it('opens the admin pages to owners and admins only', () => {
    assert.deepEqual(ROLES.filter(isAdmin), ['owner', 'admin']);
  });

  it('lets owners give any role and admins member and viewer', () => {
    assert.deepEqual(assignableRoles('owner'), ['owner', 'admin', 'member', 'viewer']);
    assert.deepEqual(assignableRoles('admin'), ['member', 'viewer']);
    assert.deepEqual(assignableRoles('member'), []);
    assert.deepEqual(assignableRoles('viewer'), []);
    assert.ok(canManage('owner', 'owner'));
    assert.ok(canManage('admin', 'viewer'));
    assert.ok(!canManage('admin', 'admin'), 'only owners change admins');
    assert.ok(!canManage('member', 'viewer'));
  });

  it('describes a site scope', () => {
    const names = new Map([
      [1, 'Shop'],
      [2, 'Blog'],
    ]);
    assert.equal(describeScope(null, names), 'all sites');
    assert.equal(describeScope([], names), 'no sites');
    assert.equal(describeScope([2, 9], names), 'Blog, site 9');
  });
});

describe('invitationState', () => {
  it('is pending until used, revoked or expired', async () => {
    const { invitationState } = await import('../src/invitations');
    const base = { id: 1, email: 'a@b.c', role: 'member' as const, sites: null, created_at: 0, expires_at: 1000, used_at: null, revoked_at: null };
    assert.equal(invitationState(base, 999), 'pending');
    assert.equal(invitationState(base, 1000), 'expired');
    assert.equal(invitationState({ ...base, used_at: 5 }, 2000), 'used');
    assert.equal(invitationState({ ...base, revoked_at: 5 }, 10), 'revoked');
  });
});

import type { Role } from './types';

/** Every role, most rights first (PROTOCOL.md §5). */
export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'viewer'];

/** What each role may do, in a line, for the pickers. */
export const ROLE_HELP: Record<Role, string> = {
  owner: 'everything, including making admins and owners',
  admin: 'sites, members, invitations, API tokens, deleting data, the audit log',
  member: 'find, replay and watch sessions; notes; share links',
  viewer: 'find, replay and watch sessions',
};

/** Owners and admins administer the organisation; the admin pages are theirs. */
export function isAdmin(role: Role): boolean {
  return role === 'owner' || role === 'admin';
}

/**
 * The roles `actor` may give (to a member, an invitation or a token): an
 * owner any, an admin member and viewer (only owners make or remove admins
 * and owners), others none.
 */
export function assignableRoles(actor: Role): Role[] {
  if (actor === 'owner') return [...ROLES];
  if (actor === 'admin') return ['member', 'viewer'];
  return [];
}

/** True when `actor` may change or remove a member who has `target`. */
export function canManage(actor: Role, target: Role): boolean {
  return assignableRoles(actor).includes(target);
}

/** A site scope for people: `all sites` or the names of the listed ones. */
export function describeScope(sites: number[] | null, names: ReadonlyMap<number, string>): string {
  if (sites === null) return 'all sites';
  if (sites.length === 0) return 'no sites';
  return sites.map((id) => names.get(id) ?? `site ${id}`).join(', ');
}

/** SCPs, SCUs (with echo), watched directories and users: lists with a create form. */
import { Badge, Button } from '@mantine/core';
import { api } from '../lib/api';
import { useSession } from '../lib/session';
import type { Scp, Scu, UserInfo, WatchedDirectory } from '../lib/types';
import { useAction } from '../components/common';
import { CrudPage } from '../components/Crud';

export function ScpsPage() {
  return (
    <CrudPage<Scp>
      title="SCPs"
      intro="DICOM listeners that receive images by C-STORE (and answer C-ECHO). A new SCP listens at once; it answers success only once an instance is stored. With Query/Retrieve, viewers also find and pull studies from it (C-FIND, C-MOVE, C-GET)."
      path="/scps"
      queryKey="scps"
      itemName={(r) => `SCP "${r.name}"`}
      columns={[
        { label: 'Name', render: (r) => r.name },
        { label: 'AE title', render: (r) => <code>{r.aeTitle}</code> },
        { label: 'Port', render: (r) => r.port },
        { label: 'Query/Retrieve', render: (r) => (r.queryRetrieve === false ? 'no' : 'yes') },
      ]}
      fields={[
        { name: 'name', label: 'Name' },
        { name: 'aeTitle', label: 'AE title', placeholder: 'SLUICE', width: 140 },
        { name: 'port', label: 'Port', type: 'number', width: 110 },
        { name: 'queryRetrieve', label: 'Query/Retrieve', type: 'checkbox', initial: 'true' },
      ]}
      toBody={(v) => ({
        id: -1,
        name: v.name,
        aeTitle: v.aeTitle,
        port: Number(v.port),
        queryRetrieve: v.queryRetrieve === 'true',
      })}
      created={(r) => `SCP "${r.name}" listens as ${r.aeTitle} on port ${r.port}.`}
    />
  );
}

function EchoButton({ scu }: { scu: Scu }) {
  const echo = useAction(
    () => api(`/scus/${scu.id}/echo`, { method: 'POST', what: `C-ECHO to ${scu.aeTitle}` }),
    {
      done: `${scu.aeTitle}@${scu.host}:${scu.port} answered the C-ECHO.`,
      failed: 'Echo failed',
    },
  );
  const { isAdmin } = useSession();
  if (!isAdmin) return null;
  return (
    <Button
      size="xs"
      variant="default"
      loading={echo.isPending}
      onClick={() => echo.mutate(undefined)}
      aria-label={`Echo ${scu.name}`}
    >
      Echo
    </Button>
  );
}

export function ScusPage() {
  return (
    <CrudPage<Scu>
      title="SCUs"
      intro="Remote DICOM nodes (PACS, workstations) that Sluice sends to by C-STORE, by hand or through forwarding rules. Echo checks that one answers."
      path="/scus"
      queryKey="scus"
      itemName={(r) => `SCU "${r.name}"`}
      columns={[
        { label: 'Name', render: (r) => r.name },
        { label: 'AE title', render: (r) => <code>{r.aeTitle}</code> },
        { label: 'Host', render: (r) => r.host },
        { label: 'Port', render: (r) => r.port },
      ]}
      fields={[
        { name: 'name', label: 'Name' },
        { name: 'aeTitle', label: 'AE title', placeholder: 'PACS', width: 140 },
        { name: 'host', label: 'Host', placeholder: '10.0.0.5' },
        { name: 'port', label: 'Port', type: 'number', width: 110, initial: '104' },
      ]}
      toBody={(v) => ({ id: -1, name: v.name, aeTitle: v.aeTitle, host: v.host, port: Number(v.port) })}
      rowActions={(r) => <EchoButton scu={r} />}
    />
  );
}

export function DirectoriesPage() {
  return (
    <CrudPage<WatchedDirectory>
      title="Watched directories"
      intro="Folders whose DICOM files are imported as they arrive (files already there first); each file is deleted once stored. Paths are inside the engine's watch root (SLUICE_WATCH_ROOT); relative paths resolve there."
      path="/directorywatches"
      queryKey="directories"
      itemName={(r) => `watched directory "${r.name}"`}
      columns={[
        { label: 'Name', render: (r) => r.name },
        { label: 'Path', render: (r) => <code>{r.path}</code> },
      ]}
      fields={[
        { name: 'name', label: 'Name' },
        { name: 'path', label: 'Path', placeholder: 'modality-a', width: 260 },
      ]}
      toBody={(v) => ({ id: -1, name: v.name, path: v.path })}
    />
  );
}

export function UsersPage() {
  const { user } = useSession();
  return (
    <CrudPage<UserInfo>
      title="Users"
      intro="Who may log in. Users browse, upload and export; administrators also configure, delete, anonymize and send. The superuser comes from the engine's configuration and cannot be deleted."
      path="/users"
      queryKey="users"
      itemName={(r) => `user "${r.user}"`}
      columns={[
        { label: 'User', render: (r) => r.user + (r.id === user.id ? ' (you)' : '') },
        {
          label: 'Role',
          render: (r) => (
            <Badge variant="light" color={r.role === 'USER' ? 'gray' : 'blue'}>
              {r.role.toLowerCase()}
            </Badge>
          ),
        },
      ]}
      fields={[
        { name: 'user', label: 'User name' },
        { name: 'password', label: 'Password', type: 'password' },
        {
          name: 'role',
          label: 'Role',
          type: 'select',
          initial: 'USER',
          width: 160,
          options: [
            { value: 'USER', label: 'User' },
            { value: 'ADMINISTRATOR', label: 'Administrator' },
          ],
        },
      ]}
      toBody={(v) => ({ user: v.user, password: v.password, role: v.role })}
      canDelete={(r) => r.role !== 'SUPERUSER' && r.id !== user.id}
    />
  );
}

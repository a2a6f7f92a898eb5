import { useEffect, useMemo, type ReactNode } from 'react';
import {
  AppShell,
  Badge,
  Burger,
  Button,
  Center,
  Group,
  Loader,
  Menu,
  NavLink,
  ScrollArea,
  Text,
  Title,
  Tooltip,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Redirect, Route, Switch, useLocation } from 'wouter';
import {
  IconActivity,
  IconArrowsExchange,
  IconBox,
  IconFileImport,
  IconFilter,
  IconFolder,
  IconInfoCircle,
  IconKey,
  IconList,
  IconListDetails,
  IconLogout,
  IconNetwork,
  IconSend,
  IconShieldLock,
  IconTags,
  IconUpload,
  IconUser,
  IconUsers,
  IconAlertOctagon,
  IconStack2,
} from '@tabler/icons-react';
import { ApiError, api, onSessionEnded } from './lib/api';
import { SessionContext, type Session } from './lib/session';
import type { UserInfo } from './lib/types';
import { useLivePipelines } from './lib/live';
import { ErrorAlert } from './components/common';
import { LoginPage } from './pages/Login';
import { PatientsPage, PatientPage, StudyPage } from './pages/Browse';
import { SeriesPage } from './pages/SeriesPage';
import { FlatSeriesPage } from './pages/FlatSeries';
import { UploadPage } from './pages/Upload';
import { AnonymizationKeysPage } from './pages/AnonymizationKeys';
import { BoxesPage } from './pages/Boxes';
import { ForwardingPage } from './pages/Forwarding';
import { ScpsPage, ScusPage, DirectoriesPage, UsersPage } from './pages/Simple';
import { ImportSessionsPage } from './pages/ImportSessions';
import { TagFiltersPage } from './pages/TagFilters';
import { SeriesTypesPage } from './pages/SeriesTypes';
import { LogPage } from './pages/Log';
import { QuarantinePage } from './pages/Quarantine';
import { PipelinesPage, SystemPage } from './pages/System';

async function currentUser(): Promise<UserInfo | null> {
  try {
    return await api<UserInfo>('/users/current');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 401)) return null;
    throw err;
  }
}

export function App() {
  const qc = useQueryClient();
  const me = useQuery({ queryKey: ['me'], queryFn: currentUser, retry: 1, staleTime: Infinity });
  useEffect(
    () =>
      onSessionEnded(() => {
        if (qc.getQueryData(['me'])) {
          qc.setQueryData(['me'], null);
          notifications.show({
            color: 'yellow',
            title: 'Logged out',
            message: 'Your session has ended. Please log in again.',
          });
        }
      }),
    [qc],
  );
  if (me.isPending)
    return (
      <Center h="100vh">
        <Loader aria-label="Loading" />
      </Center>
    );
  if (me.isError)
    return (
      <Center h="100vh" p="md">
        <ErrorAlert error={me.error} title="Sluice is not answering" onRetry={() => me.refetch()} />
      </Center>
    );
  if (!me.data) return <LoginPage onLoggedIn={(u) => qc.setQueryData(['me'], u)} />;
  return <Shell user={me.data} />;
}

interface NavItem {
  to: string;
  label: string;
  icon: ReactNode;
  adminOnly?: boolean;
}

const NAV: Array<{ group: string; items: NavItem[] }> = [
  {
    group: 'Browse',
    items: [
      { to: '/patients', label: 'Patients', icon: <IconUser size={18} /> },
      { to: '/series', label: 'Series', icon: <IconStack2 size={18} /> },
      { to: '/upload', label: 'Upload', icon: <IconUpload size={18} /> },
    ],
  },
  {
    group: 'Transfers',
    items: [
      { to: '/boxes', label: 'Boxes', icon: <IconBox size={18} /> },
      { to: '/forwarding', label: 'Forwarding', icon: <IconArrowsExchange size={18} /> },
      { to: '/imports', label: 'Import sessions', icon: <IconFileImport size={18} /> },
      { to: '/anonymization', label: 'Anonymization keys', icon: <IconKey size={18} /> },
    ],
  },
  {
    group: 'Monitor',
    items: [
      { to: '/quarantine', label: 'Quarantine', icon: <IconAlertOctagon size={18} /> },
      { to: '/log', label: 'Log', icon: <IconList size={18} /> },
      { to: '/pipelines', label: 'Pipelines', icon: <IconActivity size={18} /> },
      { to: '/system', label: 'System', icon: <IconInfoCircle size={18} /> },
    ],
  },
  {
    group: 'Configuration',
    items: [
      { to: '/scps', label: 'SCPs (receive)', icon: <IconNetwork size={18} /> },
      { to: '/scus', label: 'SCUs (send)', icon: <IconSend size={18} /> },
      { to: '/directories', label: 'Watched directories', icon: <IconFolder size={18} /> },
      { to: '/filters', label: 'Tag filters', icon: <IconFilter size={18} /> },
      { to: '/seriestypes', label: 'Series types', icon: <IconListDetails size={18} /> },
      { to: '/users', label: 'Users', icon: <IconUsers size={18} />, adminOnly: true },
    ],
  },
];

function Shell({ user }: { user: UserInfo }) {
  const qc = useQueryClient();
  const [opened, { toggle, close }] = useDisclosure();
  const [location, navigate] = useLocation();
  const { totals, query: live } = useLivePipelines();
  const isAdmin = user.role === 'ADMINISTRATOR' || user.role === 'SUPERUSER';
  const session = useMemo<Session>(
    () => ({
      user,
      isAdmin,
      async logout() {
        // Leave the shell first (its polling stops), then end the session, then forget every cached answer
        // (the next user must not see them).
        qc.setQueryData(['me'], null);
        await new Promise((r) => setTimeout(r, 50));
        try {
          await api('/users/logout', { method: 'POST', what: 'Logging out' });
        } catch (err) {
          // A session that has ended already is as good as logged out.
          if (!(err instanceof ApiError && err.status === 401)) throw err;
        } finally {
          qc.removeQueries({ predicate: (q) => q.queryKey[0] !== 'me' });
        }
      },
    }),
    [user, isAdmin, qc],
  );
  useEffect(close, [location, close]);

  return (
    <SessionContext.Provider value={session}>
      <AppShell
        header={{ height: 56 }}
        navbar={{ width: 240, breakpoint: 'sm', collapsed: { mobile: !opened } }}
        padding="md"
      >
        <a className="skip-link" href="#main">
          Skip to the page
        </a>
        <AppShell.Header>
          <Group h="100%" px="md" justify="space-between" wrap="nowrap">
            <Group gap="sm" wrap="nowrap">
              <Burger
                opened={opened}
                onClick={toggle}
                hiddenFrom="sm"
                size="sm"
                aria-label={opened ? 'Close navigation' : 'Open navigation'}
              />
              <Title order={1} size="h3">
                <a
                  href="/patients"
                  onClick={(e) => (e.preventDefault(), navigate('/patients'))}
                  style={{ color: 'inherit', textDecoration: 'none' }}
                >
                  Sluice
                </a>
              </Title>
              <Tooltip label="Instances stored since the engine started (live)">
                <Badge
                  variant="light"
                  color={live.isError ? 'red' : 'teal'}
                  visibleFrom="xs"
                  aria-live="polite"
                >
                  {live.isError
                    ? 'offline'
                    : `${totals.stored} stored${totals.inFlight ? `, ${totals.inFlight} in flight` : ''}`}
                </Badge>
              </Tooltip>
              {totals.quarantined > 0 && (
                <Badge
                  variant="light"
                  color="orange"
                  visibleFrom="xs"
                  component="a"
                  href="/quarantine"
                  onClick={(e: React.MouseEvent) => (e.preventDefault(), navigate('/quarantine'))}
                  style={{ cursor: 'pointer' }}
                >
                  {totals.quarantined} quarantined
                </Badge>
              )}
            </Group>
            <Menu position="bottom-end">
              <Menu.Target>
                <Button
                  variant="subtle"
                  color="dark"
                  leftSection={isAdmin ? <IconShieldLock size={16} /> : <IconUser size={16} />}
                  aria-label={`Account ${user.user}`}
                >
                  <Text size="sm" truncate maw={140}>
                    {user.user}
                  </Text>
                </Button>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Label>{user.role.toLowerCase()}</Menu.Label>
                <Menu.Item
                  leftSection={<IconLogout size={16} />}
                  onClick={() =>
                    session.logout().catch((e) => notifications.show({ color: 'red', message: String(e) }))
                  }
                >
                  Log out
                </Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        </AppShell.Header>
        <AppShell.Navbar p="xs" aria-label="Main">
          <ScrollArea>
            {NAV.map((g) => (
              <div key={g.group}>
                <Text size="xs" fw={700} c="gray.7" tt="uppercase" mt="sm" mb={4} px="xs">
                  {g.group}
                </Text>
                {g.items
                  .filter((i) => isAdmin || !i.adminOnly)
                  .map((i) => (
                    <NavLink
                      key={i.to}
                      href={i.to}
                      label={i.label}
                      leftSection={i.icon}
                      variant="filled"
                      active={
                        location === i.to ||
                        location.startsWith(i.to + '/') ||
                        (i.to === '/patients' && /^\/(studies)\//.test(location))
                      }
                      onClick={(e) => {
                        e.preventDefault();
                        navigate(i.to);
                      }}
                    />
                  ))}
              </div>
            ))}
            {!isAdmin && (
              <Text size="xs" c="gray.7" p="xs" mt="sm">
                You are logged in as a user: configuration is read-only, and deleting, anonymizing and sending
                need an administrator.
              </Text>
            )}
          </ScrollArea>
        </AppShell.Navbar>
        <AppShell.Main id="main" tabIndex={-1}>
          <Switch>
            <Route path="/">
              <Redirect to="/patients" />
            </Route>
            <Route path="/patients" component={PatientsPage} />
            <Route path="/patients/:id">{(p) => <PatientPage id={Number(p.id)} />}</Route>
            <Route path="/studies/:id">{(p) => <StudyPage id={Number(p.id)} />}</Route>
            <Route path="/series" component={FlatSeriesPage} />
            <Route path="/series/:id">{(p) => <SeriesPage id={Number(p.id)} />}</Route>
            <Route path="/upload" component={UploadPage} />
            <Route path="/boxes" component={BoxesPage} />
            <Route path="/forwarding" component={ForwardingPage} />
            <Route path="/imports" component={ImportSessionsPage} />
            <Route path="/anonymization" component={AnonymizationKeysPage} />
            <Route path="/quarantine" component={QuarantinePage} />
            <Route path="/log" component={LogPage} />
            <Route path="/pipelines" component={PipelinesPage} />
            <Route path="/system" component={SystemPage} />
            <Route path="/scps" component={ScpsPage} />
            <Route path="/scus" component={ScusPage} />
            <Route path="/directories" component={DirectoriesPage} />
            <Route path="/filters" component={TagFiltersPage} />
            <Route path="/seriestypes" component={SeriesTypesPage} />
            <Route path="/users" component={UsersPage} />
            <Route>
              <Title order={2}>Page not found</Title>
              <Text mt="sm">There is no page at {location}.</Text>
            </Route>
          </Switch>
        </AppShell.Main>
      </AppShell>
    </SessionContext.Provider>
  );
}

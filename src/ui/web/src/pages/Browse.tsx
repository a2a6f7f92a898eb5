/** Patients → studies → series, with search, sorting, paging and actions on what is selected. */
import { Card, Checkbox, Group, SimpleGrid, Stack, Table, Text, Title, Badge } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useLocation } from 'wouter';
import { api, qs } from '../lib/api';
import { dicomDate, personName } from '../lib/format';
import { useMetadataSearch } from '../lib/metadata';
import { useSelection } from '../lib/selection';
import type { NamedId, Patient, Series, Study } from '../lib/types';
import { ActionBar } from '../components/Actions';
import { Empty, Pager, QueryState, SortHeader } from '../components/common';
import { AppLink, Crumbs } from '../components/Links';
import { SearchForm } from '../components/Search';
import { Thumbnail } from '../components/Thumbnail';

export function PatientsPage() {
  const { search, setSearch, paging, setPaging, sort, setSort, query, rows } = useMetadataSearch<Patient>(
    'patients',
    'patients',
    'Searching patients',
    { by: 'patientName', ascending: true },
  );
  const selection = useSelection();
  const allOnPage = rows.length > 0 && rows.every((p) => selection.has(p.id));
  return (
    <Stack gap={0}>
      <Title order={2} mb="sm">
        Patients
      </Title>
      <SearchForm
        value={search}
        onSearch={(f) => {
          setSearch(f);
          setPaging({ ...paging, page: 0 });
        }}
      />
      <ActionBar level="patients" ids={selection.ids} onDone={selection.clear} />
      <QueryState query={query} what="patients">
        {() => (
          <>
            <Table.ScrollContainer minWidth={340}>
              <Table striped highlightOnHover aria-label="Patients">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th w={36}>
                      <Checkbox
                        aria-label="Select all patients on this page"
                        checked={allOnPage}
                        onChange={(e) =>
                          selection.setAll(
                            rows.map((r) => r.id),
                            e.currentTarget.checked,
                          )
                        }
                      />
                    </Table.Th>
                    <SortHeader label="Name" column="patientName" sort={sort} onSort={setSort} />
                    <SortHeader label="Patient ID" column="patientID" sort={sort} onSort={setSort} />
                    <SortHeader
                      label="Birth date"
                      column="patientBirthDate"
                      sort={sort}
                      onSort={setSort}
                      wide
                    />
                    <SortHeader label="Sex" column="patientSex" sort={sort} onSort={setSort} wide />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((p) => (
                    <Table.Tr key={p.id} bg={selection.has(p.id) ? 'var(--mantine-color-blue-0)' : undefined}>
                      <Table.Td>
                        <Checkbox
                          aria-label={`Select patient ${p.patientName.value || p.id}`}
                          checked={selection.has(p.id)}
                          onChange={() => selection.toggle(p.id)}
                        />
                      </Table.Td>
                      <Table.Td>
                        <AppLink to={`/patients/${p.id}`}>
                          {personName(p.patientName.value) || '(no name)'}
                        </AppLink>
                      </Table.Td>
                      <Table.Td>{p.patientID.value}</Table.Td>
                      <Table.Td visibleFrom="sm">{dicomDate(p.patientBirthDate.value)}</Table.Td>
                      <Table.Td visibleFrom="sm">{p.patientSex.value}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            {rows.length === 0 && (
              <Empty>No patients match. Upload files, send them to an SCP, or change the search.</Empty>
            )}
            <Pager
              paging={paging}
              onChange={setPaging}
              hasNext={(query.data?.length ?? 0) > paging.pageSize}
              shown={rows.length}
            />
          </>
        )}
      </QueryState>
    </Stack>
  );
}

export function PatientPage({ id }: { id: number }) {
  const [, navigate] = useLocation();
  const patient = useQuery({
    queryKey: ['metadata', 'patient', id],
    queryFn: () => api<Patient>(`/metadata/patients/${id}`),
  });
  const studies = useQuery({
    queryKey: ['metadata', 'studies', id],
    queryFn: () => api<Study[]>(`/metadata/studies${qs({ patientid: id, count: 1000 })}`),
  });
  const selection = useSelection();
  const name = personName(patient.data?.patientName.value) || `Patient ${id}`;
  return (
    <Stack gap={0}>
      <Crumbs items={[{ to: '/patients', label: 'Patients' }, { label: name }]} />
      <QueryState query={patient} what="the patient">
        {(p) => (
          <Group justify="space-between" align="flex-start" wrap="wrap">
            <div>
              <Title order={2}>{name}</Title>
              <Text size="sm" className="dimmed-text">
                ID {p.patientID.value || '—'} · born {dicomDate(p.patientBirthDate.value) || '—'} · sex{' '}
                {p.patientSex.value || '—'}
              </Text>
            </div>
          </Group>
        )}
      </QueryState>
      <ActionBar level="patients" ids={[id]} onDone={() => navigate('/patients')} label="This patient:" />
      <Title order={3} size="h4" mt="sm">
        Studies
      </Title>
      <ActionBar level="studies" ids={selection.ids} onDone={selection.clear} />
      <QueryState query={studies} what="studies">
        {(list) =>
          list.length === 0 ? (
            <Empty>No studies.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={560}>
              <Table striped highlightOnHover aria-label="Studies">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th w={36}>
                      <Checkbox
                        aria-label="Select all studies"
                        checked={list.every((s) => selection.has(s.id))}
                        onChange={(e) =>
                          selection.setAll(
                            list.map((s) => s.id),
                            e.currentTarget.checked,
                          )
                        }
                      />
                    </Table.Th>
                    <Table.Th>Date</Table.Th>
                    <Table.Th>Description</Table.Th>
                    <Table.Th>Study ID</Table.Th>
                    <Table.Th>Accession</Table.Th>
                    <Table.Th>Age</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {list
                    .slice()
                    .sort((a, b) => b.studyDate.value.localeCompare(a.studyDate.value))
                    .map((s) => (
                      <Table.Tr key={s.id}>
                        <Table.Td>
                          <Checkbox
                            aria-label={`Select study ${s.studyDescription.value || s.id}`}
                            checked={selection.has(s.id)}
                            onChange={() => selection.toggle(s.id)}
                          />
                        </Table.Td>
                        <Table.Td>{dicomDate(s.studyDate.value) || '—'}</Table.Td>
                        <Table.Td>
                          <AppLink to={`/studies/${s.id}`}>
                            {s.studyDescription.value || '(no description)'}
                          </AppLink>
                        </Table.Td>
                        <Table.Td>{s.studyID.value}</Table.Td>
                        <Table.Td>{s.accessionNumber.value}</Table.Td>
                        <Table.Td>{s.patientAge.value}</Table.Td>
                      </Table.Tr>
                    ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )
        }
      </QueryState>
    </Stack>
  );
}

function SeriesLabels({ seriesId }: { seriesId: number }) {
  const tags = useQuery({
    queryKey: ['metadata', 'series-tags', seriesId],
    queryFn: () => api<NamedId[]>(`/metadata/series/${seriesId}/seriestags`),
  });
  const types = useQuery({
    queryKey: ['metadata', 'series-types', seriesId],
    queryFn: () => api<NamedId[]>(`/metadata/series/${seriesId}/seriestypes`),
  });
  return (
    <Group gap={4}>
      {types.data?.map((t) => (
        <Badge key={`type${t.id}`} size="xs" color="grape" variant="light">
          {t.name}
        </Badge>
      ))}
      {tags.data?.map((t) => (
        <Badge key={`tag${t.id}`} size="xs" variant="outline">
          {t.name}
        </Badge>
      ))}
    </Group>
  );
}

export function StudyPage({ id }: { id: number }) {
  const [, navigate] = useLocation();
  const study = useQuery({
    queryKey: ['metadata', 'study', id],
    queryFn: () => api<Study>(`/metadata/studies/${id}`),
  });
  const patient = useQuery({
    queryKey: ['metadata', 'patient', study.data?.patientId],
    queryFn: () => api<Patient>(`/metadata/patients/${study.data!.patientId}`),
    enabled: !!study.data,
  });
  const series = useQuery({
    queryKey: ['metadata', 'series-of', id],
    queryFn: () => api<Series[]>(`/metadata/series${qs({ studyid: id, count: 1000 })}`),
  });
  const selection = useSelection();
  const title = study.data ? study.data.studyDescription.value || `Study ${id}` : `Study ${id}`;
  return (
    <Stack gap={0}>
      <Crumbs
        items={[
          { to: '/patients', label: 'Patients' },
          ...(patient.data
            ? [
                {
                  to: `/patients/${patient.data.id}`,
                  label: personName(patient.data.patientName.value) || `Patient ${patient.data.id}`,
                },
              ]
            : []),
          { label: title },
        ]}
      />
      <QueryState query={study} what="the study">
        {(s) => (
          <div>
            <Title order={2}>{title}</Title>
            <Text size="sm" className="dimmed-text">
              {dicomDate(s.studyDate.value) || 'no date'} · study ID {s.studyID.value || '—'} · accession{' '}
              {s.accessionNumber.value || '—'}
            </Text>
            <Text className="mono dimmed-text">{s.studyInstanceUID.value}</Text>
          </div>
        )}
      </QueryState>
      <ActionBar
        level="studies"
        ids={[id]}
        onDone={() => navigate(study.data ? `/patients/${study.data.patientId}` : '/patients')}
        label="This study:"
      />
      <Title order={3} size="h4" mt="sm">
        Series
      </Title>
      <ActionBar level="series" ids={selection.ids} onDone={selection.clear} />
      <QueryState query={series} what="series">
        {(list) =>
          list.length === 0 ? (
            <Empty>No series.</Empty>
          ) : (
            <SimpleGrid cols={{ base: 1, xs: 2, md: 3, xl: 4 }} spacing="sm">
              {list.map((s) => (
                <Card key={s.id} withBorder padding="sm">
                  <Group wrap="nowrap" align="flex-start">
                    <AppLink
                      to={`/series/${s.id}`}
                      label={`Open series ${s.seriesDescription.value || s.id}`}
                    >
                      <Thumbnail seriesId={s.id} alt="" />
                    </AppLink>
                    <Stack gap={4} style={{ minWidth: 0 }}>
                      <Checkbox
                        size="xs"
                        label="Select"
                        checked={selection.has(s.id)}
                        onChange={() => selection.toggle(s.id)}
                        aria-label={`Select series ${s.seriesDescription.value || s.id}`}
                      />
                      <AppLink to={`/series/${s.id}`}>
                        {s.seriesDescription.value || '(no description)'}
                      </AppLink>
                      <Text size="xs" className="dimmed-text">
                        {s.modality.value} · {dicomDate(s.seriesDate.value)}{' '}
                        {s.bodyPartExamined.value && `· ${s.bodyPartExamined.value}`}
                      </Text>
                      <SeriesLabels seriesId={s.id} />
                    </Stack>
                  </Group>
                </Card>
              ))}
            </SimpleGrid>
          )
        }
      </QueryState>
    </Stack>
  );
}

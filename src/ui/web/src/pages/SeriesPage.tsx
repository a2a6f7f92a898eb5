import { useMemo, useState } from 'react';
import { Badge, Checkbox, Grid, Group, Stack, Table, Tabs, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useLocation } from 'wouter';
import { api, qs } from '../lib/api';
import { byInstanceNumber, dicomDate, personName } from '../lib/format';
import { useSelection } from '../lib/selection';
import type { FlatSeries, Image, ImageInformation, NamedId, Source } from '../lib/types';
import { ActionBar } from '../components/Actions';
import { AttributeTree } from '../components/Attributes';
import { QueryState } from '../components/common';
import { Crumbs } from '../components/Links';
import { Viewer } from '../components/Viewer';

function Info({ seriesId, image }: { seriesId: number; image?: Image }) {
  const source = useQuery({
    queryKey: ['metadata', 'series-source', seriesId],
    queryFn: () => api<Source>(`/metadata/series/${seriesId}/source`),
  });
  const types = useQuery({
    queryKey: ['metadata', 'series-types', seriesId],
    queryFn: () => api<NamedId[]>(`/metadata/series/${seriesId}/seriestypes`),
  });
  const tags = useQuery({
    queryKey: ['metadata', 'series-tags', seriesId],
    queryFn: () => api<NamedId[]>(`/metadata/series/${seriesId}/seriestags`),
  });
  const info = useQuery({
    queryKey: ['imageinformation', image?.id],
    queryFn: () => api<ImageInformation>(`/images/${image!.id}/imageinformation`),
    enabled: !!image,
  });
  const rows: Array<[string, React.ReactNode]> = [
    [
      'Source',
      source.data
        ? `${source.data.sourceName || '—'} (${source.data.sourceType})`
        : source.isError
          ? 'unknown'
          : '…',
    ],
    [
      'Series types',
      types.data?.length
        ? types.data.map((t) => (
            <Badge key={t.id} mr={4} color="grape" variant="light">
              {t.name}
            </Badge>
          ))
        : 'none',
    ],
    [
      'Series tags',
      tags.data?.length
        ? tags.data.map((t) => (
            <Badge key={t.id} mr={4} variant="outline">
              {t.name}
            </Badge>
          ))
        : 'none',
    ],
    ...(image
      ? ([
          ['Image', `#${image.instanceNumber.value || '—'} (id ${image.id})`],
          ['SOP Instance UID', <span className="mono">{image.sopInstanceUID.value}</span>],
          ['Image type', image.imageType.value],
          ['Frames', info.data?.numberOfFrames ?? '…'],
          [
            'Pixel range',
            info.data ? `${info.data.minimumPixelValue} … ${info.data.maximumPixelValue}` : '…',
          ],
        ] as Array<[string, React.ReactNode]>)
      : []),
  ];
  return (
    <Table fz="sm" aria-label="Series information">
      <Table.Tbody>
        {rows.map(([k, v]) => (
          <Table.Tr key={k}>
            <Table.Th w={150}>{k}</Table.Th>
            <Table.Td>{v}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function SeriesPage({ id }: { id: number }) {
  const [, navigate] = useLocation();
  const flat = useQuery({
    queryKey: ['metadata', 'flatseries', id],
    queryFn: () => api<FlatSeries>(`/metadata/flatseries/${id}`),
  });
  const images = useQuery({
    queryKey: ['metadata', 'images-of', id],
    queryFn: () => api<Image[]>(`/metadata/images${qs({ seriesid: id, count: 10000 })}`),
  });
  const sorted = useMemo(() => (images.data ?? []).slice().sort(byInstanceNumber), [images.data]);
  const [index, setIndex] = useState(0);
  const current = sorted[Math.min(index, Math.max(0, sorted.length - 1))];
  const selection = useSelection();
  const f = flat.data;
  const title = f ? f.series.seriesDescription.value || `Series ${id}` : `Series ${id}`;
  return (
    <Stack gap={0}>
      <Crumbs
        items={[
          { to: '/patients', label: 'Patients' },
          ...(f
            ? [
                {
                  to: `/patients/${f.patient.id}`,
                  label: personName(f.patient.patientName.value) || `Patient ${f.patient.id}`,
                },
                {
                  to: `/studies/${f.study.id}`,
                  label: f.study.studyDescription.value || `Study ${f.study.id}`,
                },
              ]
            : []),
          { label: title },
        ]}
      />
      <QueryState query={flat} what="the series">
        {(s) => (
          <div>
            <Title order={2}>{title}</Title>
            <Text size="sm" className="dimmed-text">
              {s.series.modality.value} · {dicomDate(s.series.seriesDate.value) || 'no date'} ·{' '}
              {s.series.manufacturer.value} {s.series.stationName.value}
              {' · '}
              {sorted.length} image{sorted.length === 1 ? '' : 's'}
            </Text>
          </div>
        )}
      </QueryState>
      <ActionBar
        level="series"
        ids={[id]}
        onDone={() => navigate(f ? `/studies/${f.study.id}` : '/patients')}
        label="This series:"
      />
      <Grid mt="xs">
        <Grid.Col span={{ base: 12, md: 7 }}>
          <QueryState query={images} what="the images">
            {() => (
              <Viewer
                images={sorted}
                index={Math.min(index, Math.max(0, sorted.length - 1))}
                onIndex={setIndex}
              />
            )}
          </QueryState>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 5 }}>
          <Tabs defaultValue="info" keepMounted={false}>
            <Tabs.List>
              <Tabs.Tab value="info">Information</Tabs.Tab>
              <Tabs.Tab value="images">Images ({sorted.length})</Tabs.Tab>
              <Tabs.Tab value="attributes">Attributes</Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="info" pt="xs">
              <Info seriesId={id} image={current} />
            </Tabs.Panel>
            <Tabs.Panel value="images" pt="xs">
              <ActionBar level="images" ids={selection.ids} onDone={selection.clear} />
              <Table.ScrollContainer minWidth={300} mah={480}>
                <Table fz="sm" highlightOnHover aria-label="Images">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th w={36}>
                        <Checkbox
                          aria-label="Select all images"
                          checked={sorted.length > 0 && sorted.every((i) => selection.has(i.id))}
                          onChange={(e) =>
                            selection.setAll(
                              sorted.map((i) => i.id),
                              e.currentTarget.checked,
                            )
                          }
                        />
                      </Table.Th>
                      <Table.Th>#</Table.Th>
                      <Table.Th>SOP Instance UID</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {sorted.map((img, i) => (
                      <Table.Tr
                        key={img.id}
                        bg={current?.id === img.id ? 'var(--mantine-color-blue-0)' : undefined}
                      >
                        <Table.Td>
                          <Checkbox
                            aria-label={`Select image ${img.instanceNumber.value || img.id}`}
                            checked={selection.has(img.id)}
                            onChange={() => selection.toggle(img.id)}
                          />
                        </Table.Td>
                        <Table.Td>
                          <Group gap={4}>
                            <button
                              type="button"
                              className="mantine-focus-auto"
                              style={{
                                all: 'unset',
                                cursor: 'pointer',
                                color: 'var(--mantine-color-anchor)',
                                textDecoration: 'underline',
                              }}
                              onClick={() => setIndex(i)}
                            >
                              {img.instanceNumber.value || '—'}
                            </button>
                          </Group>
                        </Table.Td>
                        <Table.Td className="mono">{img.sopInstanceUID.value}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Tabs.Panel>
            <Tabs.Panel value="attributes" pt="xs">
              {current ? <AttributeTree imageId={current.id} /> : <Text size="sm">No image.</Text>}
            </Tabs.Panel>
          </Tabs>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}

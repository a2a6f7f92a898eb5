/**
 * What can be done with a selection of patients, studies, series or images: export as zip, anonymize, send
 * to an SCU or a box, delete; for series also series tags and series types. Every action works on the
 * images under the selection, found through the metadata routes.
 */
import { useEffect, useState } from 'react';
import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Group,
  Modal,
  Select,
  Stack,
  Text,
  TextInput,
  TagsInput,
  Paper,
  Loader,
  Anchor,
} from '@mantine/core';
import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import {
  IconDownload,
  IconSend,
  IconShieldCheck,
  IconTag,
  IconTrash,
  IconListDetails,
} from '@tabler/icons-react';
import { useLocation } from 'wouter';
import { api, errorMessage } from '../lib/api';
import { withoutLiveRefresh } from '../lib/live';
import { imageIdsOf, useSeriesTags, useSeriesTypes, type Level } from '../lib/metadata';
import { useSession } from '../lib/session';
import type { Box, ConfidentialityOption, Destination, Image, NamedId, Series, Study } from '../lib/types';
import { confirmThen, notifyDone, notifyError } from './common';

const LEVEL_NAMES: Record<Level, [string, string]> = {
  patients: ['patient', 'patients'],
  studies: ['study', 'studies'],
  series: ['series', 'series'],
  images: ['image', 'images'],
};

export function plural(n: number, level: Level): string {
  return `${n} ${LEVEL_NAMES[level][n === 1 ? 0 : 1]}`;
}

/** The attributes the anonymize and send dialogs let people set (Slicebox's tag values), all root-level. */
export const TAG_VALUE_FIELDS = [
  { name: 'PatientName', tag: 0x00100010, label: 'Patient name' },
  { name: 'PatientID', tag: 0x00100020, label: 'Patient ID' },
  { name: 'PatientBirthDate', tag: 0x00100030, label: 'Birth date (YYYYMMDD)' },
  { name: 'StudyDescription', tag: 0x00081030, label: 'Study description' },
  { name: 'SeriesDescription', tag: 0x0008103e, label: 'Series description' },
  { name: 'AccessionNumber', tag: 0x00080050, label: 'Accession number' },
] as const;

type TagValues = Record<string, string>;

function tagValueList(values: TagValues) {
  return TAG_VALUE_FIELDS.filter((f) => values[f.name]?.trim()).map((f) => ({
    tagPath: { tag: f.tag, name: f.name },
    value: values[f.name]!.trim(),
  }));
}

const useOptions = () =>
  useQuery({
    queryKey: ['anonymization-options'],
    queryFn: () => api<ConfidentialityOption[]>('/anonymization/options'),
    staleTime: Infinity,
  });

/** The profile's options as checkboxes (BASIC_PROFILE always applies). */
export function ProfileOptions({ value, onChange }: { value: string[]; onChange: (v: string[]) => void }) {
  const options = useOptions();
  if (options.isPending) return <Loader size="sm" />;
  if (options.isError) return <Alert color="red">{errorMessage(options.error)}</Alert>;
  return (
    <Checkbox.Group
      label="Profile options (the Basic Application Confidentiality Profile always applies)"
      value={value}
      onChange={onChange}
    >
      <Stack gap={6} mt={6}>
        {options.data
          .slice()
          .sort((a, b) => a.rank - b.rank)
          .map((o) => (
            <Checkbox key={o.name} value={o.name} label={o.title || o.name} description={o.description} />
          ))}
      </Stack>
    </Checkbox.Group>
  );
}

function TagValueFields({ values, onChange }: { values: TagValues; onChange: (v: TagValues) => void }) {
  return (
    <Stack gap={6}>
      <Text size="sm" fw={500}>
        Values to set (optional; left empty, Sluice chooses consistent pseudonyms)
      </Text>
      <Group grow wrap="wrap" gap="xs">
        {TAG_VALUE_FIELDS.map((f) => (
          <TextInput
            key={f.name}
            size="xs"
            label={f.label}
            miw={160}
            value={values[f.name] ?? ''}
            onChange={(e) => onChange({ ...values, [f.name]: e.currentTarget.value })}
          />
        ))}
      </Group>
    </Stack>
  );
}

/** Opens the patient that an anonymized image now belongs to. */
async function patientOfImage(imageId: number): Promise<number> {
  const image = await api<Image>(`/metadata/images/${imageId}`);
  const series = await api<Series>(`/metadata/series/${image.seriesId}`);
  const study = await api<Study>(`/metadata/studies/${series.studyId}`);
  return study.patientId;
}

function AnonymizeModal({
  opened,
  onClose,
  level,
  ids,
  onDone,
}: {
  opened: boolean;
  onClose: () => void;
  level: Level;
  ids: number[];
  onDone: () => void;
}) {
  const [options, setOptions] = useState<string[]>([]);
  const [values, setValues] = useState<TagValues>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [, navigate] = useLocation();
  const qc = useQueryClient();
  const submit = async () => {
    setBusy(true);
    setError('');
    try {
      const imageIds = await imageIdsOf(level, ids);
      const tagValues = tagValueList(values);
      const result = await withoutLiveRefresh(() =>
        api<Image[]>('/anonymization/anonymize', {
          body: {
            profile: { options: options.map((name) => ({ name })) },
            imageTagValuesSet: imageIds.map((imageId) => ({ imageId, tagValues })),
          },
          what: 'Anonymizing',
        }),
      );
      onClose();
      notifyDone(
        `${result.length} image${result.length === 1 ? '' : 's'} anonymized; the originals were replaced.`,
        'Anonymized',
      );
      // Leave the pages of what was replaced before the lists refresh (they would ask for deleted ids).
      if (result[0]) navigate(`/patients/${await patientOfImage(result[0].id)}`);
      else onDone();
      refreshSoon(qc);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal opened={opened} onClose={onClose} title={`Anonymize ${plural(ids.length, level)}`} size="lg">
      <Stack>
        <Text size="sm">
          The selected images are de-identified in place: each is replaced by its anonymized version, and an
          anonymization key is recorded so that data coming back can be re-identified.
        </Text>
        <ProfileOptions value={options} onChange={setOptions} />
        <TagValueFields values={values} onChange={setValues} />
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button onClick={submit} loading={busy} leftSection={<IconShieldCheck size={16} />}>
            Anonymize
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function SendModal({
  opened,
  onClose,
  level,
  ids,
}: {
  opened: boolean;
  onClose: () => void;
  level: Level;
  ids: number[];
}) {
  const destinations = useQuery({
    queryKey: ['destinations'],
    queryFn: () => api<Destination[]>('/destinations'),
    enabled: opened,
  });
  const boxes = useQuery({
    queryKey: ['boxes'],
    queryFn: () => api<Box[]>('/boxes?count=1000'),
    enabled: opened,
  });
  const [target, setTarget] = useState<string | null>(null);
  const [options, setOptions] = useState<string[]>([]);
  const [values, setValues] = useState<TagValues>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const qc = useQueryClient();
  const [type, id] = (target ?? ':').split(':');
  useEffect(() => {
    if (type === 'box')
      setOptions(
        boxes.data?.find((b) => b.id === Number(id))?.defaultProfile.options.map((o) => o.name) ?? [],
      );
  }, [type, id, boxes.data]);
  const submit = async () => {
    setBusy(true);
    setError('');
    try {
      const imageIds = await imageIdsOf(level, ids);
      if (type === 'scu') {
        await api(`/scus/${id}/send`, { body: imageIds, what: 'Sending' });
        notifyDone(`${imageIds.length} image${imageIds.length === 1 ? '' : 's'} stored by the SCU.`, 'Sent');
      } else {
        const tagValues = tagValueList(values);
        await api(`/boxes/${id}/send`, {
          body: {
            profile: { options: options.map((name) => ({ name })) },
            imageTagValuesSet: imageIds.map((imageId) => ({ imageId, tagValues })),
          },
          what: 'Sending to the box',
        });
        void qc.invalidateQueries({ queryKey: ['boxes'] });
        notifyDone(
          `${imageIds.length} image${imageIds.length === 1 ? '' : 's'} queued for the box; see Boxes for the progress.`,
          'Queued',
        );
      }
      onClose();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal opened={opened} onClose={onClose} title={`Send ${plural(ids.length, level)}`} size="lg">
      <Stack>
        {destinations.isError && <Alert color="red">{errorMessage(destinations.error)}</Alert>}
        <Select
          label="Destination"
          placeholder={destinations.isPending ? 'Loading…' : 'Choose an SCU or a box'}
          data={[
            {
              group: 'SCUs (DICOM)',
              items: (destinations.data ?? [])
                .filter((d) => d.destinationType === 'scu')
                .map((d) => ({ value: `scu:${d.destinationId}`, label: d.destinationName })),
            },
            {
              group: 'Boxes',
              items: (destinations.data ?? [])
                .filter((d) => d.destinationType === 'box')
                .map((d) => ({ value: `box:${d.destinationId}`, label: d.destinationName })),
            },
          ]}
          value={target}
          onChange={setTarget}
          nothingFoundMessage="No SCU or box yet: add one under Configuration"
        />
        {destinations.data?.length === 0 && (
          <Text size="sm">No destinations yet: add an SCU or a box first.</Text>
        )}
        {type === 'scu' && (
          <Text size="sm">
            The stored files are sent as they are (not anonymized) over DICOM C-STORE; this waits until the
            peer has stored them.
          </Text>
        )}
        {type === 'box' && (
          <>
            <Text size="sm">
              Images sent to a box are anonymized on the way out with this profile (the box's default is
              preselected).
            </Text>
            <ProfileOptions value={options} onChange={setOptions} />
            <TagValueFields values={values} onChange={setValues} />
          </>
        )}
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button onClick={submit} loading={busy} disabled={!target} leftSection={<IconSend size={16} />}>
            Send
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** Series tags of one or more series: add by name (created if new), remove. */
function SeriesTagsModal({ opened, onClose, ids }: { opened: boolean; onClose: () => void; ids: number[] }) {
  const all = useSeriesTags();
  const qc = useQueryClient();
  const current = useQuery({
    queryKey: ['metadata', 'series-tags-of', ids],
    queryFn: async () =>
      (await Promise.all(ids.map((id) => api<NamedId[]>(`/metadata/series/${id}/seriestags`)))).flat(),
    enabled: opened,
  });
  const [adding, setAdding] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const present = [...new Map((current.data ?? []).map((t) => [t.id, t])).values()];
  const refresh = () => qc.invalidateQueries({ queryKey: ['metadata'] });
  const add = async () => {
    setBusy(true);
    try {
      for (const name of adding)
        for (const id of ids)
          await api(`/metadata/series/${id}/seriestags`, {
            body: { id: -1, name },
            what: `Adding tag ${name}`,
          });
      notifyDone(`Tagged ${plural(ids.length, 'series')} with ${adding.join(', ')}.`);
      setAdding([]);
    } catch (err) {
      notifyError(err);
    } finally {
      setBusy(false);
      await refresh();
    }
  };
  const remove = async (tag: NamedId) => {
    try {
      for (const id of ids)
        await api(`/metadata/series/${id}/seriestags/${tag.id}`, {
          method: 'DELETE',
          what: `Removing tag ${tag.name}`,
        });
    } catch (err) {
      notifyError(err);
    } finally {
      await refresh();
    }
  };
  return (
    <Modal opened={opened} onClose={onClose} title={`Series tags of ${plural(ids.length, 'series')}`}>
      <Stack>
        <div>
          <Text size="sm" fw={500} mb={4}>
            Current tags
          </Text>
          {current.isPending ? (
            <Loader size="xs" />
          ) : present.length ? (
            <Group gap="xs">
              {present.map((t) => (
                <Badge
                  key={t.id}
                  variant="light"
                  rightSection={
                    <Anchor
                      component="button"
                      size="xs"
                      aria-label={`Remove tag ${t.name}`}
                      onClick={() => remove(t)}
                    >
                      ✕
                    </Anchor>
                  }
                >
                  {t.name}
                </Badge>
              ))}
            </Group>
          ) : (
            <Text size="sm" className="dimmed-text">
              No tags.
            </Text>
          )}
        </div>
        <TagsInput
          label="Add tags"
          description="Pick existing tags or type new ones, then Enter"
          data={(all.data ?? []).map((t) => t.name)}
          value={adding}
          onChange={setAdding}
        />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Close
          </Button>
          <Button onClick={add} loading={busy} disabled={!adding.length}>
            Add
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** Series types set by hand: they survive re-classification. */
function SeriesTypesModal({ opened, onClose, ids }: { opened: boolean; onClose: () => void; ids: number[] }) {
  const types = useSeriesTypes();
  const qc = useQueryClient();
  const current = useQuery({
    queryKey: ['metadata', 'series-types-of', ids],
    queryFn: () =>
      api<{ seriesIdSeriesTypes: Array<{ seriesId: number; seriesType: NamedId }> }>(
        '/seriestypes/series/query',
        { body: { ids } },
      ),
    enabled: opened,
  });
  const count = (typeId: number) =>
    new Set(
      current.data?.seriesIdSeriesTypes.filter((s) => s.seriesType.id === typeId).map((s) => s.seriesId),
    ).size;
  const set = async (typeId: number, on: boolean) => {
    try {
      for (const id of ids)
        await api(`/metadata/series/${id}/seriestypes/${typeId}`, {
          method: on ? 'PUT' : 'DELETE',
          what: 'Setting the series type',
        });
    } catch (err) {
      notifyError(err);
    } finally {
      await qc.invalidateQueries({ queryKey: ['metadata'] });
    }
  };
  return (
    <Modal opened={opened} onClose={onClose} title={`Series types of ${plural(ids.length, 'series')}`}>
      <Stack>
        <Text size="sm">Types set here are kept when rules re-classify the series.</Text>
        {types.isError && <Alert color="red">{errorMessage(types.error)}</Alert>}
        {types.data?.length === 0 && (
          <Text size="sm">No series types yet: define them under Configuration › Series types.</Text>
        )}
        {(types.data ?? []).map((t) => {
          const n = count(t.id);
          return (
            <Checkbox
              key={t.id}
              label={t.name}
              checked={n === ids.length && n > 0}
              indeterminate={n > 0 && n < ids.length}
              onChange={(e) => set(t.id, e.currentTarget.checked)}
              disabled={current.isPending}
            />
          );
        })}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Close
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** Refreshes the metadata once the page has moved away from what was deleted or replaced. */
function refreshSoon(qc: QueryClient) {
  setTimeout(() => void qc.invalidateQueries({ queryKey: ['metadata'] }), 250);
}

/** Starts a zip download of the images under the selection. */
export async function exportZip(level: Level, ids: number[]) {
  const imageIds = await imageIdsOf(level, ids);
  const set = await api<{ id: number } | undefined>('/images/export', {
    body: imageIds,
    what: 'Preparing the export',
  });
  if (!set) throw new Error('Nothing to export: the selection has no images.');
  const a = document.createElement('a');
  a.href = `/api/images/export?id=${set.id}`;
  a.download = 'sluice-export.zip';
  document.body.appendChild(a);
  a.click();
  a.remove();
  return imageIds.length;
}

export function ActionBar({
  level,
  ids,
  onDone,
  label,
}: {
  level: Level;
  ids: number[];
  onDone: () => void;
  label?: string;
}) {
  const { isAdmin } = useSession();
  const qc = useQueryClient();
  const [open, setOpen] = useState<'' | 'anonymize' | 'send' | 'tags' | 'types'>('');
  const [busy, setBusy] = useState('');
  const none = ids.length === 0;
  const run = (name: string, fn: () => Promise<void>) => async () => {
    setBusy(name);
    try {
      await fn();
    } catch (err) {
      notifyError(err);
    } finally {
      setBusy('');
    }
  };
  const del = () =>
    confirmThen(
      `Delete ${plural(ids.length, level)}?`,
      'The images and their files are deleted from Sluice. This cannot be undone.',
      'Delete',
      () =>
        void run('delete', async () => {
          const imageIds = await imageIdsOf(level, ids);
          await withoutLiveRefresh(() => api('/images/delete', { body: imageIds, what: 'Deleting' }));
          notifyDone(`Deleted ${imageIds.length} image${imageIds.length === 1 ? '' : 's'}.`);
          // Leave a page of what was deleted before the lists refresh (it would ask for deleted ids).
          onDone();
          refreshSoon(qc);
        })(),
    );
  return (
    <Paper
      withBorder
      p="xs"
      my="sm"
      role="toolbar"
      aria-label={`Actions on the selected ${LEVEL_NAMES[level][1]}`}
    >
      <Group gap="xs" wrap="wrap">
        <Text size="sm" fw={500} mr="xs">
          {label ??
            (none
              ? `Select ${LEVEL_NAMES[level][1]} to act on them`
              : `${plural(ids.length, level)} selected`)}
        </Text>
        <Button
          size="xs"
          variant="default"
          disabled={none}
          loading={busy === 'export'}
          leftSection={<IconDownload size={14} />}
          onClick={run('export', async () => {
            const n = await exportZip(level, ids);
            notifyDone(`Downloading ${n} image${n === 1 ? '' : 's'} as a zip.`, 'Export');
          })}
        >
          Export zip
        </Button>
        {isAdmin && (
          <>
            <Button
              size="xs"
              variant="default"
              disabled={none}
              leftSection={<IconShieldCheck size={14} />}
              onClick={() => setOpen('anonymize')}
            >
              Anonymize…
            </Button>
            <Button
              size="xs"
              variant="default"
              disabled={none}
              leftSection={<IconSend size={14} />}
              onClick={() => setOpen('send')}
            >
              Send…
            </Button>
          </>
        )}
        {level === 'series' && isAdmin && (
          <>
            <Button
              size="xs"
              variant="default"
              disabled={none}
              leftSection={<IconTag size={14} />}
              onClick={() => setOpen('tags')}
            >
              Tags…
            </Button>
            <Button
              size="xs"
              variant="default"
              disabled={none}
              leftSection={<IconListDetails size={14} />}
              onClick={() => setOpen('types')}
            >
              Types…
            </Button>
          </>
        )}
        {isAdmin && (
          <Button
            size="xs"
            color="red"
            variant="light"
            disabled={none}
            loading={busy === 'delete'}
            leftSection={<IconTrash size={14} />}
            onClick={del}
          >
            Delete
          </Button>
        )}
      </Group>
      {open === 'anonymize' && (
        <AnonymizeModal opened onClose={() => setOpen('')} level={level} ids={ids} onDone={onDone} />
      )}
      {open === 'send' && <SendModal opened onClose={() => setOpen('')} level={level} ids={ids} />}
      {open === 'tags' && <SeriesTagsModal opened onClose={() => setOpen('')} ids={ids} />}
      {open === 'types' && <SeriesTypesModal opened onClose={() => setOpen('')} ids={ids} />}
    </Paper>
  );
}

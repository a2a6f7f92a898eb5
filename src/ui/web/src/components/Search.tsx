import { useState } from 'react';
import { Button, Collapse, Group, MultiSelect, Paper, TextInput } from '@mantine/core';
import { IconSearch, IconX } from '@tabler/icons-react';
import {
  EMPTY_SEARCH,
  isSearching,
  sourceKey,
  sourceLabel,
  useSeriesTags,
  useSeriesTypes,
  useSources,
  type SearchFields,
} from '../lib/metadata';

/** The search form of the patient and series lists: name, ID, dates, modality, series types, sources, series tags. */
export function SearchForm({
  value,
  onSearch,
}: {
  value: SearchFields;
  onSearch: (f: SearchFields) => void;
}) {
  const [f, setF] = useState(value);
  const [more, setMore] = useState(
    value.sources.length + value.seriesTypes.length + value.seriesTags.length > 0 || !!value.description,
  );
  const sources = useSources();
  const types = useSeriesTypes();
  const tags = useSeriesTags();
  const set = (k: keyof SearchFields) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setF({ ...f, [k]: e.currentTarget.value });
  return (
    <Paper withBorder p="sm" mb="sm">
      <form
        role="search"
        aria-label="Search"
        onSubmit={(e) => {
          e.preventDefault();
          onSearch(f);
        }}
      >
        <Group gap="xs" align="flex-end" wrap="wrap">
          <TextInput
            size="xs"
            label="Patient name"
            placeholder="contains…"
            value={f.patientName}
            onChange={set('patientName')}
            w={170}
          />
          <TextInput
            size="xs"
            label="Patient ID"
            placeholder="contains…"
            value={f.patientID}
            onChange={set('patientID')}
            w={130}
          />
          <TextInput
            size="xs"
            label="Modality"
            placeholder="CT, MR…"
            value={f.modality}
            onChange={set('modality')}
            w={90}
          />
          <TextInput
            size="xs"
            type="date"
            label="Study date from"
            value={f.dateFrom}
            onChange={set('dateFrom')}
            w={150}
          />
          <TextInput size="xs" type="date" label="to" value={f.dateTo} onChange={set('dateTo')} w={150} />
          <Button size="xs" type="submit" leftSection={<IconSearch size={14} />}>
            Search
          </Button>
          {isSearching(f) && (
            <Button
              size="xs"
              variant="subtle"
              leftSection={<IconX size={14} />}
              onClick={() => {
                setF(EMPTY_SEARCH);
                onSearch(EMPTY_SEARCH);
              }}
            >
              Clear
            </Button>
          )}
          <Button size="xs" variant="subtle" onClick={() => setMore(!more)} aria-expanded={more}>
            {more ? 'Fewer filters' : 'More filters'}
          </Button>
        </Group>
        <Collapse expanded={more}>
          <Group gap="xs" mt="xs" align="flex-end" wrap="wrap">
            <TextInput
              size="xs"
              label="Study description"
              placeholder="contains…"
              value={f.description}
              onChange={set('description')}
              w={180}
            />
            <MultiSelect
              size="xs"
              label="Sources"
              placeholder="any"
              w={220}
              data={(sources.data ?? []).map((s) => ({ value: sourceKey(s), label: sourceLabel(s) }))}
              value={f.sources}
              onChange={(v) => setF({ ...f, sources: v })}
              searchable
              clearable
            />
            <MultiSelect
              size="xs"
              label="Series types"
              placeholder="any"
              w={200}
              data={(types.data ?? []).map((t) => ({ value: String(t.id), label: t.name }))}
              value={f.seriesTypes}
              onChange={(v) => setF({ ...f, seriesTypes: v })}
              searchable
              clearable
            />
            <MultiSelect
              size="xs"
              label="Series tags"
              placeholder="any"
              w={200}
              data={(tags.data ?? []).map((t) => ({ value: String(t.id), label: t.name }))}
              value={f.seriesTags}
              onChange={(v) => setF({ ...f, seriesTags: v })}
              searchable
              clearable
            />
          </Group>
        </Collapse>
      </form>
    </Paper>
  );
}

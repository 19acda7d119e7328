import { LabIcon } from '@jupyterlab/ui-components';

import wardenSvgstr from '../../style/icons/warden.svg';

export const wardenIcon = new LabIcon({
  name: 'jupyterlab-warden:warden',
  svgstr: wardenSvgstr
});
